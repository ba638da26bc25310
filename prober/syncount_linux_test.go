package prober

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// synCounterRules count the SYNs that reach port 7100 of a namespace's
// address, and drop them, so that every check waits out the kernel's
// resends.
const synCounterRules = `
table inet syncount {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 7100 tcp flags & (syn | ack) == syn counter drop
	}
}
`

// TestSYNsOnTheWire counts on the wire the SYNs of several checks that
// go unanswered: each check's first SYN plus the resends TCP_SYNCNT
// allows, all reported in SYNRetransmits although no check was answered.
func TestSYNsOnTheWire(t *testing.T) {
	testenv.RequireNft(t)
	ns := netns.New(t)
	if err := ns.AddAddr("lo", "198.18.7.1/32"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Nft(synCounterRules); err != nil {
		t.Fatal(err)
	}
	c := newChecker(t)
	const checks, retries = 10, 1
	opts := DefaultOptions()
	opts.SYNRetries = retries
	// TCP_SYNCNT 1: the kernel resends after 1s and, with the linear
	// timeouts of Linux 6.x (net.ipv4.tcp_syn_linear_timeouts), once more
	// after 2s before it gives up; without them, it gives up at 3s.
	resends := retries
	if n, err := os.ReadFile("/proc/sys/net/ipv4/tcp_syn_linear_timeouts"); err == nil && strings.TrimSpace(string(n)) != "0" {
		resends++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var s Summary
	if err := ns.Do(func() error {
		s = c.CheckMany(ctx, "198.18.7.1:7100", opts, Plan{SYNCount: checks})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(s.Results) != checks || s.Classes[ClassTimeout] != checks {
		t.Fatalf("%d results, classes %v: want %d timeouts", len(s.Results), s.Classes, checks)
	}
	if s.SYNRetransmits != uint32(checks*resends) {
		t.Errorf("SYNRetransmits %d, want %d", s.SYNRetransmits, checks*resends)
	}
	out, err := ns.Output("nft", "list", "chain", "inet", "syncount", "input")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no counter in %q", out)
	}
	if got, _ := strconv.Atoi(m[1]); got != checks*(1+resends) {
		t.Errorf("%d SYNs on the wire, want %d", got, checks*(1+resends))
	}
}
