package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestRoutePrefix(t *testing.T) {
	tests := []struct {
		externalURL, routePrefix string
		want                     string
	}{
		{"", "", ""},
		{"", "/", ""},
		{"", "synack", "/synack"},
		{"", "/synack/", "/synack"},
		{"", "/probes/synack", "/probes/synack"},
		{"https://proxy.example/synack/", "", "/synack"},
		{"https://proxy.example/synack", "", "/synack"},
		{"http://proxy.example:8080", "", ""},
		// The route prefix wins: a proxy that strips the external path.
		{"https://proxy.example/synack/", "/", ""},
		{"https://proxy.example/synack/", "/other/", "/other"},
	}
	for _, tt := range tests {
		got, err := RoutePrefix(tt.externalURL, tt.routePrefix)
		if err != nil || got != tt.want {
			t.Errorf("RoutePrefix(%q, %q) = %q, %v; want %q", tt.externalURL, tt.routePrefix, got, err, tt.want)
		}
	}
}

func TestRoutePrefixErrors(t *testing.T) {
	tests := []struct {
		externalURL, routePrefix string
		want                     string
	}{
		{"/synack/", "", `--web.external-url: want an absolute http or https URL such as https://proxy.example/synack/, got "/synack/" (a path alone goes in --web.route-prefix)`},
		{"proxy.example/synack", "", `--web.external-url: want an absolute http or https URL such as https://proxy.example/synack/, got "proxy.example/synack" (a path alone goes in --web.route-prefix)`},
		{"", "/a b", `--web.route-prefix: "/a b" is not a plain path: use letters, digits, '-', '.', '_' and '~' between single slashes`},
		{"", "/a//b", `--web.route-prefix: "/a//b" is not a plain path: use letters, digits, '-', '.', '_' and '~' between single slashes`},
		{"", "/{x}", `--web.route-prefix: "/{x}" is not a plain path: use letters, digits, '-', '.', '_' and '~' between single slashes`},
		{"https://proxy.example/a%20b/", "", `--web.route-prefix: "/a b/" is not a plain path: use letters, digits, '-', '.', '_' and '~' between single slashes`},
	}
	for _, tt := range tests {
		got, err := RoutePrefix(tt.externalURL, tt.routePrefix)
		if err == nil || err.Error() != tt.want {
			t.Errorf("RoutePrefix(%q, %q) = %q, %v; want error %s", tt.externalURL, tt.routePrefix, got, err, tt.want)
		}
	}
}

// TestUnderPrefix serves the exporter under /synack/, as behind a reverse
// proxy that keeps the path, and checks every endpoint there, the
// redirects to the landing page, and that nothing answers outside it.
func TestUnderPrefix(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(func(context.Context, string) prober.Result { return openResult })})
	srv := httptest.NewServer(UnderPrefix(s.Exporter, "/synack"))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		method, path string
		status       int
		body         string // a part of the body, or the Location of a redirect
	}{
		{"GET", "/synack/probe?target=open.test:22", 200, "probe_success 1\n"},
		{"GET", "/synack/probe?target=open.test:22&debug=true", 200, "Logs for the probe:"},
		{"GET", "/synack/metrics", 200, "synack_exporter_probes_total"},
		{"GET", "/synack/-/healthy", 200, "Healthy\n"},
		{"POST", "/synack/-/reload", 200, "Config reloaded\n"},
		{"GET", "/synack/config", 200, "tcp_synack:"},
		{"GET", "/synack/logs?id=1", 200, "Logs for the probe:"},
		{"GET", "/synack/", 200, "<h1>synack_exporter</h1>"},
		{"GET", "/synack", 302, "/synack/"},
		{"GET", "/", 302, "/synack/"},
		{"GET", "/probe?target=open.test:22", 404, ""},
		{"GET", "/metrics", 404, ""},
		{"GET", "/synackx/metrics", 404, ""},
		// Cleaned before the prefix comes off, so the redirect keeps it.
		{"GET", "/synack//metrics", 301, "/synack/metrics"},
		{"GET", "/synack/./probe?target=open.test:22", 301, "/synack/probe?target=open.test:22"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			got := body
			if tt.status == 301 || tt.status == 302 {
				got = resp.Header.Get("Location")
			}
			if !strings.Contains(got, tt.body) {
				t.Errorf("got %q, want it to contain %q", got, tt.body)
			}
		})
	}
}

// TestLandingLinksUnderPrefix follows every link and form of the landing
// page served under a prefix: each must stay under it and answer.
func TestLandingLinksUnderPrefix(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(func(context.Context, string) prober.Result { return openResult })})
	srv := httptest.NewServer(UnderPrefix(s.Exporter, "/synack"))
	t.Cleanup(srv.Close)
	if _, err := http.Get(srv.URL + "/synack/probe?target=open.test:22"); err != nil {
		t.Fatal(err)
	}
	page, err := url.Parse(srv.URL + "/synack/")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(page.String())
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	refs := regexp.MustCompile(`(?:href|action)="([^"]*)"`).FindAllStringSubmatch(body, -1)
	if len(refs) < 4 {
		t.Fatalf("landing page has %d links, want at least 4:\n%s", len(refs), body)
	}
	for _, ref := range refs {
		u, err := page.Parse(strings.ReplaceAll(ref[1], "&amp;", "&"))
		if err != nil {
			t.Errorf("link %q: %v", ref[1], err)
			continue
		}
		if !strings.HasPrefix(u.Path, "/synack/") {
			t.Errorf("link %q leads to %s, outside /synack/", ref[1], u.Path)
			continue
		}
		if u.Path == "/synack/probe" && u.RawQuery == "" {
			u.RawQuery = "target=open.test:22" // the probe form
		}
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Errorf("link %q (%s): status %d", ref[1], u, resp.StatusCode)
		}
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// FuzzRoutePrefix checks that no flag value makes RoutePrefix or
// UnderPrefix panic, and that every accepted prefix has the one form the
// handler relies on: "" or "/" followed by plain segments.
func FuzzRoutePrefix(f *testing.F) {
	for _, seed := range [][2]string{
		{"", ""}, {"https://proxy.example/synack/", ""}, {"", "/a/b/"}, {"http://h", "//"},
		{"", "/a%2Fb"}, {"ftp://h/x", ""}, {"", "/{$}"}, {"https://h/a b", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	valid := regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)
	f.Fuzz(func(t *testing.T, externalURL, routePrefix string) {
		prefix, err := RoutePrefix(externalURL, routePrefix)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if !valid.MatchString(prefix) {
			t.Fatalf("RoutePrefix(%q, %q) = %q, not a plain prefix", externalURL, routePrefix, prefix)
		}
		h := UnderPrefix(http.NotFoundHandler(), prefix)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if prefix != "" && w.Code != http.StatusFound {
			t.Fatalf("GET / under %q: %d, want a redirect", prefix, w.Code)
		}
	})
}
