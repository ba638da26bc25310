package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// TestSIGTERMLetsProbeFinish: a probe in flight when SIGTERM arrives
// still gets its answer, at the end of its own budget, and the process
// then exits 0.
func TestSIGTERMLetsProbeFinish(t *testing.T) {
	p := startExporter(t, t.TempDir(), "--web.listen-address=127.0.0.1:0")
	addr := p.waitLog(t, listeningRE)
	silent := loopback.Silent(t)

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	req, err := http.NewRequest("GET", "http://"+addr+"/probe?target="+silent.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A 2 s scrape timeout less the 0.5 s offset: a 1.5 s budget.
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
	start := time.Now()
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, string(body), err}
	}()
	// The probe is in flight once the exporter counts it.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(get(t, "http://"+addr+"/metrics"), "synack_exporter_probes_in_flight 1\n") {
		if time.Now().After(deadline) {
			t.Fatal("the probe never showed as in flight")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`msg="(Shutting down)`))
	a := <-answered
	took := time.Since(start)
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, "probe_success 0") ||
		!strings.Contains(a.body, `probe_tcp_error_class{class="timeout"} 1`) {
		t.Fatalf("probe in flight at SIGTERM: %d %v\n%s", a.status, a.err, a.body)
	}
	if took < 1400*time.Millisecond {
		t.Errorf("the probe answered after %v, before its 1.5 s budget ran out", took)
	}
	for range p.lines { // drain stderr so Wait can return
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
