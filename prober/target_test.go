package prober

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in      string
		host    string
		port    uint16
		wantErr string
	}{
		{in: "example.test:22", host: "example.test", port: 22},
		{in: "127.0.0.1:65535", host: "127.0.0.1", port: 65535},
		{in: "[::1]:1", host: "::1", port: 1},
		{in: "[fe80::1%lo]:80", host: "fe80::1%lo", port: 80},
		{in: "", wantErr: `target "" is not host:port: missing port in address`},
		{in: "host", wantErr: `target "host" is not host:port: missing port in address`},
		{in: "host:", wantErr: `target "host:": missing port`},
		{in: ":80", wantErr: `target ":80": missing host`},
		{in: "host:0", wantErr: `target "host:0": port "0" is out of range 1-65535`},
		{in: "host:65536", wantErr: `target "host:65536": port "65536" is out of range 1-65535`},
		{in: "host:+80", wantErr: `target "host:+80": port "+80" is not a decimal number`},
		{in: "host:-1", wantErr: `target "host:-1": port "-1" is not a decimal number`},
		{in: "host:080", wantErr: `target "host:080": port "080" has a leading zero`},
		{in: "host:http", wantErr: `target "host:http": port "http" is not a decimal number`},
		{in: "host:80:80", wantErr: `target "host:80:80" is not host:port: too many colons in address`},
		{in: "::1:80", wantErr: `target "::1:80" is not host:port: too many colons in address`},
		{in: "[127.0.0.1]:80", wantErr: `target "[127.0.0.1]:80": brackets are only for IPv6 addresses, not "127.0.0.1"`},
		{in: "[name]:80", wantErr: `target "[name]:80": brackets are only for IPv6 addresses, not "name"`},
		{in: "a b:80", wantErr: `target "a b:80": host "a b" contains a character not allowed in a host name (' ')`},
		{in: "a\r\nb:80", wantErr: `target "a\r\nb:80": host "a\r\nb" contains a character not allowed in a host name ('\r')`},
		{in: "<script>:80", wantErr: `target "<script>:80": host "<script>" contains a character not allowed in a host name ('<')`},
		{in: "bücher.test:80", wantErr: `target "bücher.test:80": host "bücher.test" contains a character not allowed in a host name ('ü')`},
		{in: "[::% 000]:80", wantErr: `zone " 000" contains a character not allowed in an interface name (' ')`},
		{in: strings.Repeat("a", 254) + ":80", wantErr: `host is longer than 253 characters`},
		{in: "0.0.0.0:22", wantErr: `target "0.0.0.0:22": 0.0.0.0: the unspecified address means this host itself and is never a target`},
		{in: "[::]:22", wantErr: `target "[::]:22": ::: the unspecified address means this host itself`},
		{in: "[::ffff:0.0.0.0]:22", wantErr: `target "[::ffff:0.0.0.0]:22": ::ffff:0.0.0.0: the unspecified address`},
		{in: "[::%lo]:22", wantErr: `the unspecified address`},
		{in: "[0:0::0]:22", wantErr: `the unspecified address`},
		// Refused before any message quotes it.
		{in: strings.Repeat("a", 5000) + ":80", wantErr: `target is 5003 bytes long; no host:port is longer than 261`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			host, port, err := ParseTarget(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || host != tc.host || port != tc.port {
				t.Fatalf("got %q %d %v, want %q %d", host, port, err, tc.host, tc.port)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"a:1", "[::1]:22", "[fe80::1%eth0]:80", "1.2.3.4:080", "x:y:z", "\x00:1", "%41:1", "[::ffff:127.0.0.1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := ParseTarget(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("multi-line error for %q: %q", s, err)
			}
			return
		}
		if port == 0 || host == "" {
			t.Fatalf("accepted %q as %q %d", s, host, port)
		}
		if strings.ContainsAny(host, "\x00\r\n /") {
			t.Fatalf("accepted a host with a control or path character: %q", host)
		}
		if a, err := netip.ParseAddr(host); err == nil && a.WithZone("").Unmap().IsUnspecified() {
			t.Fatalf("accepted the unspecified address in %q", s)
		}
	})
}
