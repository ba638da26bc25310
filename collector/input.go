package collector

import (
	"fmt"
	"net/url"
)

// maxQueryLen bounds a /probe query string: a target, a module name and a
// debug flag fit many times over. It also bounds what an error message
// can repeat back to the client and into the log.
const maxQueryLen = 4096

// maxTargetLen is the longest host:port: a 253-character name, or an IPv6
// literal with brackets and a zone, a colon and five digits.
const maxTargetLen = 253 + len("[]:65535")

// parseQuery parses a /probe query string strictly. r.URL.Query() drops a
// pair it cannot decode without a word, so "target=%zz:80" would read as
// a missing target and "target=a:1;module=b" would lose its module; here
// either is an error that says why.
func parseQuery(raw string) (url.Values, error) {
	if len(raw) > maxQueryLen {
		return nil, fmt.Errorf("query is %d bytes long; the limit is %d", len(raw), maxQueryLen)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return q, nil
}

// checkTargetLen refuses a target longer than any host:port before
// anything else reads it, so that no message repeats a kilobyte of it.
func checkTargetLen(target string) error {
	if len(target) > maxTargetLen {
		return fmt.Errorf("target is %d bytes long; no host:port is longer than %d", len(target), maxTargetLen)
	}
	return nil
}

// maxQuoted is how much of a client's value a message quotes.
const maxQuoted = 64

// quoteShort quotes s for a message, cut to maxQuoted bytes.
func quoteShort(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
