package quote

import (
	"strings"
	"testing"
)

func TestShort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"a\nb", `"a\nb"`},
		{strings.Repeat("x", MaxShown), `"` + strings.Repeat("x", MaxShown) + `"`},
		{strings.Repeat("x", MaxShown+1), `"` + strings.Repeat("x", MaxShown) + `"...`},
		{strings.Repeat("x", MaxShown-2) + "é", `"` + strings.Repeat("x", MaxShown-2) + `é"`},
		// The cut would split the two-byte "é": it backs off before it.
		{strings.Repeat("x", MaxShown-1) + "é", `"` + strings.Repeat("x", MaxShown-1) + `"...`},
	} {
		if got := Short(tc.in); got != tc.want {
			t.Errorf("Short(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
