package collector

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// TestHostileRequests sends /probe the requests a scanner, a fuzzer or a
// careless script would, over a real HTTP server: each gets a clear 4xx
// with a one-line reason (or, where the request is in fact valid, an
// ordinary answer), and the process stays healthy throughout.
func TestHostileRequests(t *testing.T) {
	s := newTestServer(t, Options{})
	open := openPort(t, "tcp4", "127.0.0.1:0")
	_, port, _ := strings.Cut(open, ":")
	long := strings.Repeat("a", 300) + ".test:80"
	huge := strings.Repeat("a", 100_000) + ":80"

	tests := []struct {
		name   string
		query  string   // raw, sent as is
		header []string // name, value pairs
		status int
		body   string // the whole body, for 4xx
	}{
		// Length.
		{"long target", "target=" + long, nil, 400, "target is 308 bytes long; no host:port is longer than 261"},
		{"huge target", "target=" + huge, nil, 400, "query is 100010 bytes long; the limit is 4096"},
		{"longest name", "target=" + strings.Repeat("a", 253) + ":" + port, nil, 200, ""},

		// Control characters, percent-encoded since a raw one cannot be
		// sent (see TestHostileRawRequests).
		{"CR LF", "target=a%0D%0AX-Injected:%201:80", nil, 400,
			`target "a\r\nX-Injected: 1:80" is not host:port: too many colons in address`},
		{"CR LF in host", "target=a%0D%0Ab:80", nil, 400,
			`target "a\r\nb:80": host "a\r\nb" contains a character not allowed in a host name ('\r')`},
		{"NUL", "target=127.0.0.1%00:" + port, nil, 400,
			`target "127.0.0.1\x00:` + port + `": host "127.0.0.1\x00" contains a character not allowed in a host name ('\x00')`},
		{"NUL in module", "target=" + open + "&module=tcp_synack%00", nil, 400, `unknown module "tcp_synack\x00"`},
		{"DEL", "target=a%7F:80", nil, 400,
			`target "a\x7f:80": host "a\x7f" contains a character not allowed in a host name ('\x7f')`},

		// Percent-encoding tricks.
		{"malformed escape", "target=%zz:80", nil, 400, `query: invalid URL escape "%zz"`},
		{"truncated escape", "target=127.0.0.1:8%", nil, 400, `query: invalid URL escape "%"`},
		{"double encoded colon", "target=127.0.0.1%253A" + port, nil, 400,
			`target "127.0.0.1%3A` + port + `" is not host:port: missing port in address`},
		{"encoded slash", "target=127.0.0.1%2F..%2F:80", nil, 400,
			`target "127.0.0.1/../:80": host "127.0.0.1/../" contains a character not allowed in a host name ('/')`},
		{"plus is a space", "target=a+b:80", nil, 400,
			`target "a b:80": host "a b" contains a character not allowed in a host name (' ')`},
		{"semicolon separator", "target=" + open + ";module=tcp_short", nil, 400,
			"query: invalid semicolon separator in query"},
		{"overlong UTF-8", "target=127.0.0.1%C0%AE:80", nil, 400,
			`target "127.0.0.1\xc0\xae:80": host "127.0.0.1\xc0\xae" contains a character not allowed in a host name ('` + "\uFFFD" + `')`},
		{"encoded brackets are fine", "target=%5B::1%5D:1", nil, 200, ""},
		{"userinfo", "target=user%40127.0.0.1:80", nil, 400,
			`target "user@127.0.0.1:80": host "user@127.0.0.1" contains a character not allowed in a host name ('@')`},
		{"URL as target", "target=http://127.0.0.1:80/", nil, 400,
			`target "http://127.0.0.1:80/" is not host:port: too many colons in address`},

		// Unicode.
		{"unicode host", "target=" + url.QueryEscape("bücher.test:80"), nil, 400,
			`target "bücher.test:80": host "bücher.test" contains a character not allowed in a host name ('ü')`},
		{"ideographic full stop", "target=" + url.QueryEscape("127。0。0。1:80"), nil, 400,
			`target "127。0。0。1:80": host "127。0。0。1" contains a character not allowed in a host name ('。')`},
		{"fullwidth digits in port", "target=" + url.QueryEscape("127.0.0.1:８０"), nil, 400,
			`target "127.0.0.1:８０": port "８０" is not a decimal number`},
		{"right-to-left override", "target=" + url.QueryEscape("a\u202eb:80"), nil, 400,
			`target "a\u202eb:80": host "a\u202eb" contains a character not allowed in a host name ('\u202e')`},

		// Ports and colons.
		{"host:port:port", "target=127.0.0.1:80:80", nil, 400, `target "127.0.0.1:80:80" is not host:port: too many colons in address`},
		{"plus sign", "target=127.0.0.1:%2B80", nil, 400, `target "127.0.0.1:+80": port "+80" is not a decimal number`},
		{"minus sign", "target=127.0.0.1:-80", nil, 400, `target "127.0.0.1:-80": port "-80" is not a decimal number`},
		{"leading zero", "target=127.0.0.1:080", nil, 400, `target "127.0.0.1:080": port "080" has a leading zero`},
		{"hex port", "target=127.0.0.1:0x50", nil, 400, `target "127.0.0.1:0x50": port "0x50" is not a decimal number`},
		{"huge port", "target=127.0.0.1:99999999999999999999", nil, 400,
			`target "127.0.0.1:99999999999999999999": port "99999999999999999999" is out of range 1-65535`},
		{"no port", "target=127.0.0.1:", nil, 400, `target "127.0.0.1:": missing port`},

		// IPv6.
		{"IPv6 without brackets", "target=::1:22", nil, 400, `target "::1:22" is not host:port: too many colons in address`},
		{"IPv6 without port", "target=::1", nil, 400, `target "::1" is not host:port: too many colons in address`},
		{"IPv4 in brackets", "target=%5B127.0.0.1%5D:80", nil, 400,
			`target "[127.0.0.1]:80": brackets are only for IPv6 addresses, not "127.0.0.1"`},
		{"zone", "target=%5Bfe80::1%25lo%5D:" + port, nil, 200, ""},
		{"zone with a path", "target=%5Bfe80::1%25..%2F..%5D:80", nil, 400,
			`target "[fe80::1%../..]:80": zone "../.." contains a character not allowed in an interface name ('/')`},
		{"long zone", "target=%5Bfe80::1%25" + strings.Repeat("x", 16) + "%5D:80", nil, 400,
			`target "[fe80::1%` + strings.Repeat("x", 16) + `]:80": zone "` + strings.Repeat("x", 16) + `" is longer than an interface name can be`},
		{"zone on IPv4", "target=127.0.0.1%25lo:80", nil, 400,
			`target "127.0.0.1%lo:80": host "127.0.0.1%lo" contains a character not allowed in a host name ('%')`},

		// Parameters.
		{"repeated target", "target=" + open + "&target=" + open, nil, 400, "target parameter is given more than once"},
		{"repeated module", "target=" + open + "&module=tcp_synack&module=tcp_synack", nil, 400, "module parameter is given more than once"},
		{"repeated debug", "target=" + open + "&debug=false&debug=true", nil, 400, "debug parameter is given more than once"},
		{"empty and real target", "target=&target=" + open, nil, 400, "target parameter is given more than once"},
		// Unknown parameters are ignored, as blackbox_exporter does:
		// relabelling often leaves extra __param_ labels behind.
		{"unknown parameter ignored", "target=" + open + "&timeout=1&foo=%00", nil, 200, ""},
		{"parameter names are case-sensitive", "Target=" + open, nil, 400, "target parameter is missing"},
		{"no query", "", nil, 400, "target parameter is missing"},
		{"only separators", "&&&=&", nil, 400, "target parameter is missing"},
		{"long module", "target=" + open + "&module=" + strings.Repeat("m", 4000), nil, 400,
			`unknown module "` + strings.Repeat("m", quote.MaxShown) + `"...`},

		// The scrape timeout header.
		{"negative timeout", "target=" + open, []string{scrapeTimeoutHeader, "-5"}, 400,
			`X-Prometheus-Scrape-Timeout-Seconds header "-5" is not a positive number of seconds`},
		{"zero timeout", "target=" + open, []string{scrapeTimeoutHeader, "0"}, 400,
			`X-Prometheus-Scrape-Timeout-Seconds header "0" is not a positive number of seconds`},
		{"NaN timeout", "target=" + open, []string{scrapeTimeoutHeader, "NaN"}, 400,
			`X-Prometheus-Scrape-Timeout-Seconds header "NaN" is not a positive number of seconds`},
		{"text timeout", "target=" + open, []string{scrapeTimeoutHeader, "soon"}, 400,
			`X-Prometheus-Scrape-Timeout-Seconds header "soon" is not a positive number of seconds`},
		{"long timeout value", "target=" + open, []string{scrapeTimeoutHeader, strings.Repeat("9", 10_000) + "x"}, 400,
			`X-Prometheus-Scrape-Timeout-Seconds header "` + strings.Repeat("9", 64) + `"... is not a positive number of seconds`},
		{"huge timeout is clamped", "target=" + open, []string{scrapeTimeoutHeader, "1e308"}, 200, ""},
		{"infinite timeout is clamped", "target=" + open, []string{scrapeTimeoutHeader, "+Inf"}, 200, ""},
		{"overflowing timeout is clamped", "target=" + open, []string{scrapeTimeoutHeader, "1e999"}, 200, ""},
		{"timeout header twice", "target=" + open, []string{scrapeTimeoutHeader, "1", scrapeTimeoutHeader, "2"}, 400,
			"X-Prometheus-Scrape-Timeout-Seconds header is given more than once"},

		// Headers the HTTP server itself refuses.
		{"huge header", "target=" + open, []string{"X-Filler", strings.Repeat("x", 2<<20)}, 431, "431 Request Header Fields Too Large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.URL+"/probe", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawQuery = tt.query
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			status, ctype, body := do(t, req)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %q", status, tt.status, body)
			}
			if status == 200 {
				parseMetrics(t, body)
				return
			}
			if !strings.HasPrefix(ctype, "text/plain") || strings.TrimSuffix(body, "\n") != tt.body {
				t.Errorf("got %q\n%q\nwant text/plain\n%q", ctype, body, tt.body)
			}
			if strings.Count(strings.TrimSuffix(body, "\n"), "\n") != 0 {
				t.Errorf("reason is more than one line: %q", body)
			}
		})
	}
	checkHealthy(t, s, open)
}

// TestHostileRawRequests writes requests no well-behaved client library
// would send straight to the socket.
func TestHostileRawRequests(t *testing.T) {
	s := newTestServer(t, Options{})
	open := openPort(t, "tcp4", "127.0.0.1:0")
	for _, tc := range []struct {
		name, requestLine string
		status            int
	}{
		{"raw NUL", "GET /probe?target=a\x00b:80 HTTP/1.1", 400},
		{"raw space", "GET /probe?target=a b:80 HTTP/1.1", 400},
		{"raw UTF-8", "GET /probe?target=bücher.test:80 HTTP/1.1", 400},
		{"raw bare LF split", "GET /probe?target=a\nX-Injected: 1 HTTP/1.1", 400},
		{"absolute URI", "GET http://127.0.0.1/probe?target=" + open + " HTTP/1.1", 200},
		{"HTTP/0.9", "GET /probe?target=" + open, 400},
		{"unknown method", "PROBE /probe?target=" + open + " HTTP/1.1", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, line := rawRequest(t, s.URL, tc.requestLine+"\r\nHost: exporter\r\nConnection: close\r\n\r\n")
			if status != tc.status {
				t.Errorf("status %d (%q), want %d", status, line, tc.status)
			}
		})
	}
	checkHealthy(t, s, open)
}

// rawRequest writes req to the server at base and returns the answer's
// status code and status line.
func rawRequest(t *testing.T, base, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var status int
	if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &status); err != nil {
		t.Fatalf("status line %q: %v", line, err)
	}
	return status, strings.TrimSpace(line)
}

// checkHealthy fails unless the server still answers /-/healthy and
// probes open, a loopback port.
func checkHealthy(t *testing.T, s *testServer, open string) {
	t.Helper()
	if status, _, body := s.get(t, "/-/healthy"); status != 200 {
		t.Fatalf("/-/healthy: %d %q", status, body)
	}
	status, _, body := s.get(t, "/probe?target="+open)
	if status != 200 || gaugeValue(t, parseMetrics(t, body), "probe_success") != 1 {
		t.Fatalf("probe after the hostile requests: %d\n%s", status, body)
	}
}
