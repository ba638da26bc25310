package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
)

// TestUnspecifiedIsNeverChecked: 0.0.0.0, :: and ::ffff:0.0.0.0 mean this
// host itself to connect(); given to any entry point they end as class
// resolve with ErrUnspecified and no socket. The listener on every
// address of this host would make a check that went through open.
func TestUnspecifiedIsNeverChecked(t *testing.T) {
	ln := listen(t, "tcp", ":0")
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	c := newChecker(t)
	fds := leakcheck.OpenFDs(t)
	for _, a := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified(), netip.MustParseAddr("::ffff:0.0.0.0")} {
		addr := netip.AddrPortFrom(a, port)
		if _, err := c.Resolve(context.Background(), a.String(), DefaultOptions()); !errors.Is(err, ErrUnspecified) {
			t.Errorf("Resolve(%v): %v, want ErrUnspecified", a, err)
		}
		check := c.Check(context.Background(), addr.String(), DefaultOptions())
		checkAddr := c.CheckAddr(context.Background(), addr, DefaultOptions())
		begun, ok := c.BeginAddr(context.Background(), addr, DefaultOptions(), func(Result) { t.Error("BeginAddr called done") })
		if !ok {
			t.Errorf("BeginAddr(%v) left a check pending", addr)
		}
		for name, r := range map[string]Result{"Check": check, "CheckAddr": checkAddr, "BeginAddr": begun} {
			if r.Class != ClassResolve || !errors.Is(r.Err, ErrUnspecified) {
				t.Errorf("%s(%v): %v (%v), want resolve with ErrUnspecified", name, addr, r.Class, r.Err)
			}
		}
	}
	if got := leakcheck.OpenFDs(t); got != fds {
		t.Errorf("fds %d after the checks, %d before: a socket was made", got, fds)
	}
}
