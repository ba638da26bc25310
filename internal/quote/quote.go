// Package quote quotes a user's value for a one-line message without
// letting a pasted blob turn it into a kilobyte-long line.
package quote

import "fmt"

// MaxShown is how many bytes of a value a message repeats.
const MaxShown = 64

// Short quotes s with %q, cut to MaxShown bytes at a rune boundary (so the
// quoted text stays valid UTF-8) and marked "..." when cut.
func Short(s string) string {
	if len(s) <= MaxShown {
		return fmt.Sprintf("%q", s)
	}
	cut := MaxShown
	for cut > 0 && s[cut]&0xC0 == 0x80 { // a UTF-8 continuation byte
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
