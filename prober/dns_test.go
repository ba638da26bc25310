package prober

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/dnstest"
)

// TestCheckResolves goes through a DNS server on loopback that the test
// runs; the machine's own resolvers are never asked. Names end in a dot so
// no search list applies.
func TestCheckResolves(t *testing.T) {
	v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"both.test.":   {v4, v6},
		"v4only.test.": {v4},
		"v6only.test.": {v6},
		"zero.test.":   {netip.IPv4Unspecified()},
		"zero6.test.":  {netip.IPv6Unspecified(), netip.MustParseAddr("::ffff:0.0.0.0")},
		"zero4.test.":  {netip.IPv4Unspecified(), v4},
	})
	c, err := NewChecker(WithResolver(dns.Resolver()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ip4only := Options{PreferredIPProtocol: IP4}
	for _, tc := range []struct {
		name, target string
		opts         Options
		want         netip.Addr
		wantErr      string
	}{
		{"both, prefer ip6", "both.test.:9", DefaultOptions(), v6, ""},
		{"both, prefer ip4", "both.test.:9", Options{PreferredIPProtocol: IP4, IPProtocolFallback: true}, v4, ""},
		{"v4 only, fallback", "v4only.test.:9", DefaultOptions(), v4, ""},
		{"v6 only, ip4 without fallback", "v6only.test.:9", ip4only, netip.Addr{}, "no ip4 address"},
		{"unknown name", "missing.test.:9", DefaultOptions(), netip.Addr{}, "no such host"},
		{"only 0.0.0.0", "zero.test.:9", DefaultOptions(), netip.Addr{}, `resolving "zero.test.": 0.0.0.0: the unspecified address means this host itself and is never a target`},
		{"only :: and ::ffff:0.0.0.0", "zero6.test.:9", DefaultOptions(), netip.Addr{}, "the unspecified address"},
		{"0.0.0.0 and another", "zero4.test.:9", DefaultOptions(), v4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r := c.Check(ctx, tc.target, tc.opts)
			if tc.wantErr != "" {
				if r.Class != ClassResolve || r.Err == nil || !strings.Contains(r.Err.Error(), tc.wantErr) {
					t.Fatalf("got %v (%v), want resolve with %q", r.Class, r.Err, tc.wantErr)
				}
				return
			}
			if r.Class == ClassResolve || r.Addr.Addr() != tc.want {
				t.Fatalf("got %v at %v (%v), want %v", r.Class, r.Addr, r.Err, tc.want)
			}
			if r.DNS <= 0 {
				t.Errorf("DNS time %v", r.DNS)
			}
		})
	}
}

// TestResolveCountsAgainstTheBudget: a DNS server slower than the budget
// ends the check at the deadline, as class resolve.
func TestResolveCountsAgainstTheBudget(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"slow.test.": {netip.MustParseAddr("127.0.0.1")}})
	dns.SetDelay(2 * time.Second)
	c, err := NewChecker(WithResolver(dns.Resolver()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := c.Check(ctx, "slow.test.:9", DefaultOptions())
	if took := time.Since(start); took > time.Second {
		t.Errorf("check took %v with a 200ms budget", took)
	}
	if r.Class != ClassResolve {
		t.Fatalf("got %v (%v), want resolve", r.Class, r.Err)
	}
}

// TestLiteralTakesNoDNSTime: an IP literal asks no one, so its DNS time
// is 0 exactly (probe_dns_lookup_time_seconds 0), through every entry
// point; a name's is not.
func TestLiteralTakesNoDNSTime(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"name.test.": {netip.MustParseAddr("127.0.0.1")}})
	c, err := NewChecker(WithResolver(dns.Resolver()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, target := range []string{"127.0.0.1:9", "[::1]:9"} {
		if r := c.Check(ctx, target, DefaultOptions()); r.DNS != 0 || !r.Addr.IsValid() {
			t.Errorf("Check(%s): DNS %v at %v (%v), want 0", target, r.DNS, r.Addr, r.Err)
		}
		got := make(chan Result, 1)
		r, ok := c.Begin(ctx, target, DefaultOptions(), func(r Result) { got <- r })
		if !ok {
			r = <-got
		}
		if r.DNS != 0 {
			t.Errorf("Begin(%s): DNS %v, want 0", target, r.DNS)
		}
		if s := c.CheckMany(ctx, target, DefaultOptions(), Plan{SYNCount: 2}); s.DNS != 0 {
			t.Errorf("CheckMany(%s): DNS %v, want 0", target, s.DNS)
		}
	}
	if r := c.Check(ctx, "name.test.:9", DefaultOptions()); r.DNS <= 0 {
		t.Errorf("a name's DNS time: %v, want > 0", r.DNS)
	}
}
