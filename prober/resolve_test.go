package prober

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func TestChooseAddr(t *testing.T) {
	v4 := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	mapped := netip.MustParseAddr("::ffff:127.0.0.1")
	for _, tc := range []struct {
		name    string
		addrs   []netip.Addr
		opts    Options
		want    netip.Addr
		wantErr string
	}{
		{"prefer ip6, both", []netip.Addr{v4, v6}, DefaultOptions(), v6, ""},
		{"prefer ip4, both", []netip.Addr{v6, v4}, Options{PreferredIPProtocol: IP4}, v4, ""},
		{"prefer ip6, only v4, fallback", []netip.Addr{v4}, DefaultOptions(), v4, ""},
		{"prefer ip6, only v4, no fallback", []netip.Addr{v4}, Options{PreferredIPProtocol: IP6}, netip.Addr{}, `no ip6 address and ip_protocol_fallback is off`},
		{"prefer ip4, only v6, no fallback", []netip.Addr{v6}, Options{PreferredIPProtocol: IP4}, netip.Addr{}, `no ip4 address and ip_protocol_fallback is off`},
		{"v4-mapped counts as v4", []netip.Addr{mapped}, Options{PreferredIPProtocol: IP4}, v4, ""},
		{"source address decides the family", []netip.Addr{v4, v6}, Options{PreferredIPProtocol: IP6, IPProtocolFallback: true, SourceIPAddress: v4}, v4, ""},
		{"source address allows no fallback", []netip.Addr{v6}, Options{IPProtocolFallback: true, SourceIPAddress: v4}, netip.Addr{}, `no ip4 address`},
		{"nothing at all", nil, DefaultOptions(), netip.Addr{}, `resolving "h": no address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseAddr("h", tc.addrs, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestResolveLiteralsSkipDNS(t *testing.T) {
	c := &Checker{resolver: failingResolver{t}}
	for _, host := range []string{"127.0.0.1", "::1", "fe80::1%lo"} {
		if _, err := c.Resolve(context.Background(), host, DefaultOptions()); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

type failingResolver struct{ t *testing.T }

func (f failingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	f.t.Fatal("literal sent to the resolver")
	return nil, nil
}
