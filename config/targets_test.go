package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func patterns(t testing.TB, entries ...string) TargetPatterns {
	t.Helper()
	var ps TargetPatterns
	for _, s := range entries {
		p, err := ParseTargetPattern(s)
		if err != nil {
			t.Fatalf("ParseTargetPattern(%q): %v", s, err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestLoadTargets(t *testing.T) {
	c, err := LoadFile("testdata/valid-targets.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Module{
		"tcp_lan": module(func(m *Module) {
			m.AllowedTargets = patterns(t, "127.0.0.0/8", "198.18.0.0/15:80-443", "::1",
				"[fd00:198:18::/48]:22", "db.example.internal", "*.Example.Internal.:8080")
			m.DeniedTargets = patterns(t, "198.18.0.7", "127.0.0.1:22", "*.admin.example.internal")
		}),
		// An empty list and no list are the same: every target allowed.
		"tcp_open": module(nil),
	}
	if !reflect.DeepEqual(c.Modules, want) {
		t.Errorf("modules\n got: %+v\nwant: %+v", c.Modules, want)
	}
	if m := c.Modules["tcp_open"]; m.RestrictsTargets() {
		t.Error("empty lists restrict targets")
	}
}

func TestPermitTarget(t *testing.T) {
	lan := module(func(m *Module) {
		m.AllowedTargets = patterns(t, "127.0.0.0/8", "198.18.0.0/15:80-443", "::1",
			"[fd00:198:18::/48]:22", "db.example.internal", "*.Example.Internal.:8080")
		m.DeniedTargets = patterns(t, "198.18.0.7", "127.0.0.1:22", "*.admin.example.internal", "fe80::/10")
	})
	denyOnly := module(func(m *Module) {
		m.DeniedTargets = patterns(t, "127.0.0.0/8", "::1", "localhost")
	})
	tests := []struct {
		name   string
		module Module
		host   string
		addr   string
		want   string // "" for allowed
	}{
		{"no lists allow anything", NewModule(), "example.test", "198.51.100.1:22", ""},
		{"in an allowed CIDR", lan, "127.0.0.2", "127.0.0.2:9", ""},
		{"allowed CIDR, port in range", lan, "198.18.1.1", "198.18.1.1:443", ""},
		{"allowed CIDR, port below range", lan, "198.18.1.1", "198.18.1.1:79",
			"198.18.1.1:79 matches no allowed_targets entry"},
		{"allowed IPv6 address", lan, "::1", "[::1]:5", ""},
		{"allowed IPv6 CIDR and port", lan, "fd00:198:18::9", "[fd00:198:18::9]:22", ""},
		{"allowed IPv6 CIDR, other port", lan, "fd00:198:18::9", "[fd00:198:18::9]:23",
			"[fd00:198:18::9]:23 matches no allowed_targets entry"},
		{"IPv4 prefix does not match IPv6", lan, "64:ff9b::c612:101", "[64:ff9b::c612:101]:80",
			"[64:ff9b::c612:101]:80 matches no allowed_targets entry"},
		{"IPv4-mapped compared as IPv4", lan, "::ffff:198.18.1.1", "[::ffff:198.18.1.1]:80", ""},
		{"IPv4-mapped denied as IPv4", lan, "::ffff:198.18.0.7", "[::ffff:198.18.0.7]:80",
			`[::ffff:198.18.0.7]:80 matches denied_targets entry "198.18.0.7"`},
		{"denied address inside an allowed CIDR", lan, "198.18.0.7", "198.18.0.7:80",
			`198.18.0.7:80 matches denied_targets entry "198.18.0.7"`},
		{"denied port of an allowed address", lan, "127.0.0.1", "127.0.0.1:22",
			`127.0.0.1:22 matches denied_targets entry "127.0.0.1:22"`},
		{"allowed name, any address", lan, "DB.example.internal.", "203.0.113.9:5432", ""},
		{"allowed wildcard, port", lan, "a.b.example.internal", "203.0.113.9:8080", ""},
		{"wildcard does not cover the domain itself", lan, "example.internal", "203.0.113.9:8080",
			"example.internal:8080 (203.0.113.9) matches no allowed_targets entry"},
		{"wildcard, other port", lan, "a.example.internal", "203.0.113.9:80",
			"a.example.internal:80 (203.0.113.9) matches no allowed_targets entry"},
		{"name that resolves into an allowed CIDR", lan, "loopback.test", "127.0.0.1:80", ""},
		{"allowed name that resolves to a denied address", lan, "db.example.internal", "198.18.0.7:80",
			`198.18.0.7:80 matches denied_targets entry "198.18.0.7"`},
		{"denied name below an allowed wildcard", lan, "x.admin.example.internal", "127.0.0.5:8080",
			`x.admin.example.internal:8080 matches denied_targets entry "*.admin.example.internal"`},
		{"zone dropped before matching", lan, "fe80::1%lo", "[fe80::1%lo]:22",
			`[fe80::1%lo]:22 matches denied_targets entry "fe80::/10"`},
		{"deny only: loopback by name", denyOnly, "localhost", "127.0.0.1:22",
			`localhost:22 matches denied_targets entry "localhost"`},
		{"deny only: a name resolving to loopback", denyOnly, "rebind.test", "127.0.0.53:53",
			`127.0.0.53:53 matches denied_targets entry "127.0.0.0/8"`},
		{"deny only: the rest allowed", denyOnly, "198.18.0.1", "198.18.0.1:22", ""},
		{"literal never matches a name entry", denyOnly, "127.0.0.1", "127.0.0.1:22",
			`127.0.0.1:22 matches denied_targets entry "127.0.0.0/8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.module.PermitTarget(tt.host, netip.MustParseAddrPort(tt.addr))
			got := ""
			if err != nil {
				got = err.Error()
				var de *TargetDeniedError
				if !errors.As(err, &de) {
					t.Errorf("error is %T, want *TargetDeniedError", err)
				}
			}
			if got != tt.want {
				t.Errorf("PermitTarget(%q, %s)\n got: %q\nwant: %q", tt.host, tt.addr, got, tt.want)
			}
		})
	}
}

func TestPermitName(t *testing.T) {
	m := module(func(m *Module) {
		m.AllowedTargets = patterns(t, "*.example.internal")
		m.DeniedTargets = patterns(t, "*.admin.example.internal:22", "127.0.0.0/8")
	})
	for _, tc := range []struct {
		host string
		port uint16
		want string
	}{
		{"x.admin.example.internal", 22, `x.admin.example.internal:22 matches denied_targets entry "*.admin.example.internal:22"`},
		{"x.admin.example.internal", 80, ""},
		// Addresses and the allow list wait for PermitTarget.
		{"127.0.0.1", 22, ""},
		{"elsewhere.test", 22, ""},
	} {
		got := ""
		if err := m.PermitName(tc.host, tc.port); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("PermitName(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestParseTargetPatternErrors(t *testing.T) {
	// The forms that need no YAML around them; testdata/invalid-targets-*
	// covers the messages as a user sees them.
	for _, tc := range []struct{ in, want string }{
		{"198.18.0.0/15:80-", `port "" is not a decimal number`},
		{"198.18.0.0/15:-80", `port "" is not a decimal number`},
		{"198.18.0.0/15:80-65536", `port "65536" is out of range 1-65535`},
		{"198.18.0.0/15:1-2-3", `port "2-3" is not a decimal number`},
		{"[::1]x", `want ':' and a port after ']'`},
		{"[db.example.internal]:22", "brackets are only for IPv6 addresses and CIDRs"},
		{"198.18.0.0/x", `prefix length "x" is not 0-32`},
		{"fd00::/129", `prefix length "129" is not 0-128`},
		{"fe80::%eth0/10", "zones are not compared; leave the zone out"},
		{"::ffff:127.0.0.1", "IPv4-mapped addresses are never probed; write 127.0.0.1"},
		{"1.2.3.256", `"1.2.3.256" is not an IP address`},
		{"db example", `' ' is not allowed in a host name (addresses and CIDRs look like 198.18.0.0/15)`},
		{"bücher.example", `'ü' is not allowed in a host name (addresses and CIDRs look like 198.18.0.0/15)`},
		{"*.", "a wildcard needs a domain after it, as in *.example.internal"},
		{"*.*.example", "'*' is only allowed as the whole first label, as in *.example.internal"},
		{strings.Repeat("a.", 127) + "example", "host name is longer than 253 characters"},
	} {
		if _, err := ParseTargetPattern(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParseTargetPattern(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// FuzzTargetPattern: no entry makes parsing or matching panic, every
// error is one line, and an accepted entry keeps its text.
func FuzzTargetPattern(f *testing.F) {
	for _, s := range []string{
		"127.0.0.0/8", "198.18.0.0/15:80-443", "::1", "[fd00::/8]:22", "[::1]:1-65535",
		"*.example.internal:8080", "db.example.internal", "10.0.0.1/8", "[::1]", "[::1",
		"fe80::1%eth0", "::ffff:1.2.3.4/120", "a..b", "*", ":22", "1.2.3.4:+1", "1.2.3.4:022",
		"x\x00y", "x\r\ny:1", "%41.example", "ｅxample.internal",
	} {
		f.Add(s, "127.0.0.1:22")
	}
	f.Fuzz(func(t *testing.T, entry, target string) {
		p, err := ParseTargetPattern(entry)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if p.String() != entry {
			t.Fatalf("String() = %q, want %q", p.String(), entry)
		}
		m := NewModule()
		m.AllowedTargets, m.DeniedTargets = TargetPatterns{p}, TargetPatterns{p}
		if addr, err := netip.ParseAddrPort(target); err == nil {
			if err := m.PermitTarget(addr.Addr().String(), addr); err != nil && strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("denial is not one line: %q", err)
			}
		}
	})
}
