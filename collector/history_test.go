package collector

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestHistoryKeepsFailuresLonger(t *testing.T) {
	h := newHistory(2)
	add := func(id uint64, class prober.Class) {
		h.add(&probeRecord{ID: id, Result: prober.Result{Class: class}})
	}
	add(1, prober.ClassTimeout)
	add(2, prober.ClassOpen)
	add(3, prober.ClassRefused)
	for id := uint64(4); id < 10; id++ {
		add(id, prober.ClassOpen)
	}
	add(10, prober.ClassResolve)

	var ids []uint64
	for _, rec := range h.recent() {
		ids = append(ids, rec.ID)
	}
	// The two newest successes and the two newest failures; failure 3
	// outlived six newer successes, failure 1 gave way to failure 10.
	if want := []uint64{10, 9, 8, 3}; !slices.Equal(ids, want) {
		t.Errorf("kept %v, want %v", ids, want)
	}
	if _, ok := h.get(3); !ok {
		t.Error("get(3): kept failure not found")
	}
	if _, ok := h.get(1); ok {
		t.Error("get(1): dropped failure still found")
	}
}

func TestHistoryDisabled(t *testing.T) {
	h := newHistory(0)
	h.add(&probeRecord{ID: 1})
	if n := len(h.recent()); n != 0 {
		t.Errorf("history with limit 0 kept %d probes", n)
	}
}

func TestLandingPageEscapes(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(func(context.Context, string) prober.Result {
		return prober.Result{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Err: errors.New(`<img src=x onerror="alert(2)">`)}
	})})
	// ParseTarget keeps markup out of /probe: the request is a 400 and
	// never reaches the history.
	if status, _, _ := s.get(t, "/probe?target="+url.QueryEscape("<script>alert(1)</script>:80")); status != 400 {
		t.Fatalf("markup target: status %d, want 400", status)
	}
	// Error texts can carry anything (a DNS server's answer, say), and a
	// record could too: the page must escape whatever it shows.
	s.get(t, "/probe?target=closed.test:22")
	s.history.add(&probeRecord{
		ID: 1000, Start: time.Now(), Module: `<b>module</b>`, Target: `<script>alert(1)</script>:80`,
		Result: prober.Result{Class: prober.ClassOther},
	})

	status, ctype, body := s.get(t, "/")
	if status != 200 || ctype != "text/html; charset=utf-8" {
		t.Fatalf("/: %d %q", status, ctype)
	}
	for _, raw := range []string{"<script>alert", "<img", "<b>module"} {
		if strings.Contains(body, raw) {
			t.Errorf("landing page contains unescaped %q", raw)
		}
	}
	for _, escaped := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;:80",
		"&lt;img src=x onerror=&#34;alert(2)&#34;&gt;",
		"&lt;b&gt;module&lt;/b&gt;",
		`<a href="logs?id=1000">`,
		`<a href="logs?id=1">`,
		"closed.test:22",
	} {
		if !strings.Contains(body, escaped) {
			t.Errorf("landing page lacks %q", escaped)
		}
	}
	for _, link := range []string{`href="metrics"`, `href="config"`, `href="-/healthy"`} {
		if !strings.Contains(body, link) {
			t.Errorf("landing page lacks link %s", link)
		}
	}
}

func TestLogs(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(func(context.Context, string) prober.Result { return openResult })})
	s.get(t, "/probe?target=open.test:22")
	tests := []struct {
		query  string
		status int
		body   string
	}{
		{"id=1", 200, "Logs for the probe:\n"},
		{"id=2", 404, "probe 2 is no longer in the history\n"},
		{"id=x", 400, "id parameter is not a probe number\n"},
		{"", 400, "id parameter is not a probe number\n"},
	}
	for _, tt := range tests {
		status, _, body := s.get(t, "/logs?"+tt.query)
		if status != tt.status || !strings.HasPrefix(body, tt.body) {
			t.Errorf("/logs?%s: %d %q, want %d %q", tt.query, status, body, tt.status, tt.body)
		}
	}
}
