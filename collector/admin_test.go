package collector

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

func TestReload(t *testing.T) {
	s := newTestServer(t, Options{})
	target := "target=" + closedPort(t)

	writeFile(t, s.ConfigPath, testConfig+"  tcp_new:\n    timeout: 2s\n")
	if status, _, body := s.post(t, "/-/reload"); status != 200 || body != "Config reloaded\n" {
		t.Fatalf("reload: %d %q", status, body)
	}
	if status, _, body := s.get(t, "/probe?module=tcp_new&"+target); status != 200 {
		t.Fatalf("new module after reload: %d %q", status, body)
	}
	before := testutil.ToFloat64(s.metrics.reloadTime)

	writeFile(t, s.ConfigPath, "modules:\n  tcp_synack:\n    timeout: soon\n")
	status, ctype, body := s.post(t, "/-/reload")
	_, loadErr := config.LoadFile(s.ConfigPath)
	wantErr := "failed to reload config: " + loadErr.Error() + "\n"
	if status != 500 || ctype != "text/plain; charset=utf-8" || body != wantErr || strings.Count(body, "\n") != 1 {
		t.Errorf("broken reload: %d %q %q, want 500 %q", status, ctype, body, wantErr)
	}
	if got := testutil.ToFloat64(s.metrics.reloadOK); got != 0 {
		t.Errorf("config_last_reload_successful = %g after a failed reload, want 0", got)
	}
	if got := testutil.ToFloat64(s.metrics.reloadTime); got != before {
		t.Errorf("success timestamp moved on a failed reload: %g -> %g", before, got)
	}
	if status, _, body := s.get(t, "/probe?module=tcp_new&"+target); status != 200 {
		t.Errorf("old config not kept after a failed reload: %d %q", status, body)
	}
	if !strings.Contains(s.logs.String(), `level=error msg="Error loading config"`) {
		t.Errorf("failed reload not logged:\n%s", s.logs)
	}

	writeFile(t, s.ConfigPath, testConfig)
	if status, _, _ := s.post(t, "/-/reload"); status != 200 || testutil.ToFloat64(s.metrics.reloadOK) != 1 {
		t.Errorf("reload after repair: %d, gauge %g", status, testutil.ToFloat64(s.metrics.reloadOK))
	}
}

func TestReloadNeedsPOST(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(nil)})
	if status, _, _ := s.get(t, "/-/reload"); status != 405 {
		t.Errorf("GET /-/reload: %d, want 405", status)
	}
}

func TestConfigPage(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(nil)})
	status, ctype, body := s.get(t, "/config")
	want := `modules:
  tcp_short:
    timeout: 1s
    preferred_ip_protocol: ip4
    ip_protocol_fallback: true
  tcp_synack:
    timeout: 5s
    preferred_ip_protocol: ip4
    ip_protocol_fallback: true
`
	if status != 200 || ctype != "text/plain; charset=utf-8" || body != want {
		t.Errorf("/config: %d %q\n%s", status, ctype, body)
	}
}

func TestHealthy(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(nil)})
	if status, _, body := s.get(t, "/-/healthy"); status != 200 || body != "Healthy\n" {
		t.Errorf("/-/healthy: %d %q", status, body)
	}
	if status, _, _ := s.get(t, "/no-such-page"); status != 404 {
		t.Errorf("unknown page: %d, want 404", status)
	}
}

// TestMetricsFormats: /metrics answers in the format the client asks
// for, OpenMetrics included, as client_golang negotiates it.
func TestMetricsFormats(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(nil)})
	for _, tt := range []struct {
		name, accept, ctype, suffix string
	}{
		{"no Accept", "", "text/plain; version=0.0.4", "\n"},
		{"OpenMetrics", "application/openmetrics-text; version=1.0.0", "application/openmetrics-text; version=1.0.0", "# EOF\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.accept != "" {
				header = []string{"Accept", tt.accept}
			}
			status, ctype, body := s.get(t, "/metrics", header...)
			if status != 200 || !strings.HasPrefix(ctype, tt.ctype) {
				t.Fatalf("%d %q, want 200 %q", status, ctype, tt.ctype)
			}
			if !strings.HasSuffix(body, tt.suffix) || !strings.Contains(body, "synack_exporter_build_info") {
				t.Errorf("body does not end with %q or lacks build_info:\n%s", tt.suffix, body)
			}
			if tt.suffix == "\n" && strings.Contains(body, "# EOF") {
				t.Errorf("text format answer carries OpenMetrics' # EOF")
			}
		})
	}
}

// TestReloadRefusesCrossSite: a form post that a browser makes on behalf
// of another site is refused before anything is reloaded; tools that
// send no such header, and the exporter's own pages, are not.
func TestReloadRefusesCrossSite(t *testing.T) {
	s := newTestServer(t, Options{})
	host := strings.TrimPrefix(s.URL, "http://")
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"curl", nil, http.StatusOK},
		{"same origin", []string{"Origin", s.URL, "Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"typed in", []string{"Sec-Fetch-Site", "none"}, http.StatusOK},
		{"another site", []string{"Origin", "http://evil.test", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"another origin, older browser", []string{"Origin", "http://evil.test"}, http.StatusForbidden},
		{"same site, other port", []string{"Origin", "http://" + host + "0", "Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"a sandboxed frame", []string{"Origin", "null"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.URL+"/-/reload", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			status, _, body := do(t, req)
			if status != tc.want {
				t.Errorf("status %d (%q), want %d", status, body, tc.want)
			}
		})
	}
}
