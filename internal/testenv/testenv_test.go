package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder captures what require does instead of ending the test.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }

func TestRequire(t *testing.T) {
	reason := errors.New("test reason")
	tests := []struct {
		name, ci    string
		err         error
		skip, fatal bool
	}{
		{name: "ok", err: nil},
		{name: "ok under CI", ci: "true", err: nil},
		{name: "missing", err: reason, skip: true},
		{name: "missing under CI", ci: "true", err: reason, fatal: true},
		{name: "CI not exactly true", ci: "1", err: reason, skip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			require(r, tt.err)
			if (r.skipped != "") != tt.skip || (r.fatal != "") != tt.fatal {
				t.Fatalf("skipped=%q fatal=%q, want skip=%v fatal=%v", r.skipped, r.fatal, tt.skip, tt.fatal)
			}
			for _, msg := range []string{r.skipped, r.fatal} {
				if msg != "" && (!strings.Contains(msg, hint) || !strings.Contains(msg, "test reason")) {
					t.Errorf("message %q lacks the hint or the reason", msg)
				}
			}
		})
	}
}

// TestRequireAll runs the real probes; on a machine that supports
// everything (CI) they all pass.
func TestRequireAll(t *testing.T) {
	RequireRoot(t)
	RequireNetns(t)
	RequireNft(t)
	RequireTUN(t)
}
