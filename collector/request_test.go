package collector

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProbeTimeout(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name                   string
		scrape, offset, module time.Duration
		want                   time.Duration
	}{
		{"header minus offset", 10 * s, s / 2, 30 * s, 9500 * time.Millisecond},
		{"module caps", 10 * s, s / 2, 5 * s, 5 * s},
		{"module equal to budget", 5500 * time.Millisecond, s / 2, 5 * s, 5 * s},
		{"no header: 120s capped by module", defaultScrapeTimeout, s / 2, 5 * s, 5 * s},
		{"no header, long module", defaultScrapeTimeout, s / 2, 300 * s, 119500 * time.Millisecond},
		{"offset larger than scrape: scrape kept", 300 * time.Millisecond, s / 2, 5 * s, 300 * time.Millisecond},
		{"offset equal to scrape: scrape kept", s / 2, s / 2, 5 * s, s / 2},
		{"zero offset", 3 * s, 0, 5 * s, 3 * s},
		{"negative offset ignored", 3 * s, -s, 5 * s, 3 * s},
		{"no module timeout", 3 * s, s / 2, 0, 2500 * time.Millisecond},
		{"huge header clamped, module caps", maxScrapeTimeout, s / 2, 5 * s, 5 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeTimeout(tt.scrape, tt.offset, tt.module); got != tt.want {
				t.Errorf("probeTimeout(%v, %v, %v) = %v, want %v", tt.scrape, tt.offset, tt.module, got, tt.want)
			}
		})
	}
}

func TestParseScrapeTimeout(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    time.Duration
		wantErr string
	}{
		{"absent", nil, defaultScrapeTimeout, ""},
		{"integer", []string{"10"}, 10 * time.Second, ""},
		{"fraction", []string{"0.25"}, 250 * time.Millisecond, ""},
		{"spaces", []string{" 3 "}, 3 * time.Second, ""},
		{"exponent", []string{"1e1"}, 10 * time.Second, ""},
		{"tiny but positive", []string{"1e-12"}, time.Nanosecond, ""},
		{"huge", []string{"1e300"}, maxScrapeTimeout, ""},
		{"overflowing", []string{"1e400"}, maxScrapeTimeout, ""},
		{"infinite", []string{"+Inf"}, maxScrapeTimeout, ""},
		{"zero", []string{"0"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "0" is not a positive number of seconds`},
		{"negative", []string{"-1"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "-1" is not a positive number of seconds`},
		{"minus infinity", []string{"-Inf"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "-Inf" is not a positive number of seconds`},
		{"NaN", []string{"NaN"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "NaN" is not a positive number of seconds`},
		{"text", []string{"ten"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "ten" is not a positive number of seconds`},
		{"duration syntax", []string{"10s"}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "10s" is not a positive number of seconds`},
		{"empty", []string{""}, 0, `X-Prometheus-Scrape-Timeout-Seconds header "" is not a positive number of seconds`},
		{"twice", []string{"1", "2"}, 0, "X-Prometheus-Scrape-Timeout-Seconds header is given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScrapeTimeout(tt.values)
			if errText(err) != tt.wantErr || got != tt.want {
				t.Errorf("parseScrapeTimeout(%q) = %v, %q; want %v, %q", tt.values, got, errText(err), tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseProbeRequest(t *testing.T) {
	tests := []struct {
		query   string
		want    probeRequest
		wantErr string
	}{
		{"target=127.0.0.1:22", probeRequest{Target: "127.0.0.1:22", Module: "tcp_synack", ScrapeTimeout: defaultScrapeTimeout}, ""},
		{"target=%5B::1%5D:22&module=tcp_ip4&debug=true", probeRequest{Target: "[::1]:22", Module: "tcp_ip4", Debug: true, ScrapeTimeout: defaultScrapeTimeout}, ""},
		{"target=example.test:443&debug=false", probeRequest{Target: "example.test:443", Module: "tcp_synack", ScrapeTimeout: defaultScrapeTimeout}, ""},
		{"target=example.test:443&module=", probeRequest{Target: "example.test:443", Module: "tcp_synack", ScrapeTimeout: defaultScrapeTimeout}, ""},
		{"", probeRequest{}, "target parameter is missing"},
		{"target=", probeRequest{}, "target parameter is missing"},
		{"target=a:1&target=b:2", probeRequest{}, "target parameter is given more than once"},
		{"target=127.0.0.1", probeRequest{}, `target "127.0.0.1" is not host:port: missing port in address`},
		{"target=127.0.0.1:0", probeRequest{}, `target "127.0.0.1:0": port "0" is out of range 1-65535`},
		{"target=127.0.0.1:65536", probeRequest{}, `target "127.0.0.1:65536": port "65536" is out of range 1-65535`},
		{"target=127.0.0.1:http", probeRequest{}, `target "127.0.0.1:http": port "http" is not a decimal number`},
		{"target=::1:22", probeRequest{}, `target "::1:22" is not host:port: too many colons in address`},
		{"target=%3Cscript%3E:80", probeRequest{}, `target "<script>:80": host "<script>" contains a character not allowed in a host name ('<')`},
		{"target=a:1&module=x&module=y", probeRequest{}, "module parameter is given more than once"},
		{"target=a:1&debug=yes", probeRequest{}, `debug parameter "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseProbeRequest(q, http.Header{})
			if errText(err) != tt.wantErr {
				t.Fatalf("error %q, want %q", errText(err), tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzProbeRequest feeds arbitrary queries and scrape timeout headers
// through the parsing and the budget arithmetic: no panic, every reason is
// one short line, and an accepted request always has a target ParseTarget
// accepts and a positive budget no longer than the module's timeout.
func FuzzProbeRequest(f *testing.F) {
	for _, seed := range []struct{ query, header string }{
		{"target=127.0.0.1:22", "10"},
		{"target=%5B::1%5D:22&module=tcp_ip4&debug=true", "0.5"},
		{"target=example.test:443", ""},
		{"target=127.0.0.1:0", "NaN"},
		{"target=a:1&target=b:2", "-1"},
		{"target=%3Cscript%3E:80&debug=1", "1e400"},
		{"target=host:65536;module=x", "+Inf"},
		{"%zz", "1e-400"},
		// The hostile inputs of TestHostileRequests.
		{"target=a%0D%0Ab:80", "0"},
		{"target=127.0.0.1%00:22&module=tcp_synack%00", "-0"},
		{"target=127.0.0.1%253A22", "0x1p-2"},
		{"target=127.0.0.1%C0%AE:80", "1_0"},
		{"target=b%C3%BCcher.test:80", " 10 "},
		{"target=127.0.0.1:%EF%BC%98%EF%BC%90", "9999999999999999999999"},
		{"target=127.0.0.1:80:80&target=x", "NaN"},
		{"target=127.0.0.1:%2B80&debug=true&debug=false", "-Inf"},
		{"target=127.0.0.1:080", "1e308"},
		{"target=%5Bfe80::1%25lo%5D:22&foo=bar", "3"},
		{"target=%5Bfe80::1%25..%2F..%5D:80", "3"},
		{"target=127.0.0.1:22;module=tcp_short", "3"},
		{"target=" + strings.Repeat("a", 300) + ":80", "3"},
	} {
		f.Add(seed.query, seed.header, int64(500*time.Millisecond), int64(5*time.Second))
	}
	f.Fuzz(func(t *testing.T, rawQuery, header string, offset, module int64) {
		q, err := parseQuery(rawQuery)
		if err != nil {
			checkReason(t, err)
			return
		}
		h := http.Header{}
		if header != "" {
			h.Set(scrapeTimeoutHeader, header)
		}
		req, err := parseProbeRequest(q, h)
		if err != nil {
			checkReason(t, err)
			return
		}
		if req.Target == "" || req.Module == "" || req.ScrapeTimeout <= 0 || req.ScrapeTimeout > maxScrapeTimeout {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
		budget := probeTimeout(req.ScrapeTimeout, time.Duration(offset), time.Duration(module))
		if budget <= 0 || budget > req.ScrapeTimeout || (module > 0 && budget > time.Duration(module)) {
			t.Fatalf("probeTimeout(%v, %v, %v) = %v", req.ScrapeTimeout, time.Duration(offset), time.Duration(module), budget)
		}
	})
}

// checkReason fails unless err makes a one-line reason of bounded size:
// at worst every byte of the query quoted as \xNN.
func checkReason(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > 4*maxQueryLen+200 {
		t.Fatalf("reason is not one short line: %q", msg)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
