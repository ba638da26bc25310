package continuous

import (
	"net/netip"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

func TestBudgetIsTheInterval(t *testing.T) {
	requireLinux(t)
	// The module would wait 5s; the interval, 50ms, is the budget, so a
	// silent target counts a timeout every interval, not every 5s.
	silent := loopback.Silent(t).String()
	r, reg := newRunner(t, Options{})
	if err := r.Apply(load(t, groupDoc("    timeout: 5s", "50ms", silent))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 20*time.Second, "10 timeouts", func() bool { return checks(t, reg, silent, "timeout") >= 10 })
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("10 timeouts took %v: the budget is not the 50ms interval", took)
	}
}

func TestAllAddressesEachInterval(t *testing.T) {
	requireLinux(t)
	_, first := listen(t, "tcp4", "127.0.0.1:0")
	port := netip.MustParseAddrPort(first).Port()
	l2, _ := listen(t, "tcp4", "127.0.0.2:"+itoa(port))
	l1 := netip.MustParseAddrPort(first)
	resolver := staticResolver{"db.test": {netip.MustParseAddr("127.0.0.2"), l1.Addr()}}
	r, reg := newRunner(t, Options{Checker: newChecker(t, resolver)})
	target := "db.test:" + itoa(port)
	if err := r.Apply(load(t, groupDoc("    timeout: 1s\n    addresses: all", "20ms", target))); err != nil {
		t.Fatal(err)
	}
	open := func(addr string) float64 {
		return value(gather(t, reg), checksName, map[string]string{"target": target, "address": addr, "class": "open"})
	}
	waitFor(t, 10*time.Second, "20 checks of each address", func() bool { return open("127.0.0.1") >= 20 && open("127.0.0.2") >= 20 })
	// Both every interval: their counts stay within a few of each other.
	if a, b := open("127.0.0.1"), open("127.0.0.2"); a-b > 3 || b-a > 3 {
		t.Errorf("127.0.0.1 has %g checks, 127.0.0.2 %g: want both each interval", a, b)
	}
	requireNoAccept(t, l2)
}
