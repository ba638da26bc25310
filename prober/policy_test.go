package prober

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

type denyPolicy struct{ name, addr error }

func (p denyPolicy) PermitName(string, uint16) error           { return p.name }
func (p denyPolicy) PermitTarget(string, netip.AddrPort) error { return p.addr }

func TestPolicyRefusesBeforeAnyPacket(t *testing.T) {
	errNo := errors.New("no")
	for _, tc := range []struct {
		name   string
		policy denyPolicy
		target string
	}{
		// A refused name never reaches the resolver (it would fail the test).
		{"name refused before DNS", denyPolicy{name: errNo}, "db.test.:22"},
		// A refused address never gets a socket: 198.18.0.0/15 is not
		// routed outside test namespaces, and nothing may be sent to it.
		{"address refused before the SYN", denyPolicy{addr: errNo}, "198.18.9.9:22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{resolver: failingResolver{t}, eng: refusingEngine{t}}
			opts := DefaultOptions()
			opts.Policy = tc.policy
			r := c.Check(context.Background(), tc.target, opts)
			if !errors.Is(r.Err, ErrDenied) || !errors.Is(r.Err, errNo) || r.Class != ClassLocal {
				t.Fatalf("Check: got %v %v, want local wrapping ErrDenied and the policy's error", r.Class, r.Err)
			}
			r, ok := c.Begin(context.Background(), tc.target, opts, func(Result) { t.Error("Begin called done for a denied target") })
			if !ok || !errors.Is(r.Err, ErrDenied) || r.Class != ClassLocal {
				t.Fatalf("Begin: got %v %v ok=%v, want local wrapping ErrDenied at once", r.Class, r.Err, ok)
			}
		})
	}
}

// refusingEngine fails the test if a check gets as far as a socket.
type refusingEngine struct{ t *testing.T }

func (e refusingEngine) begin(context.Context, netip.AddrPort, Options, func(Result)) (Result, bool) {
	e.t.Fatal("a denied target reached the engine")
	return Result{}, true
}
func (e refusingEngine) check(context.Context, time.Time, netip.AddrPort, Options) Result {
	e.t.Fatal("a denied target reached the engine")
	return Result{}
}
func (refusingEngine) close() error    { return nil }
func (refusingEngine) exactACKs() bool { return false }
