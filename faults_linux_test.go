package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// countFDs counts the open file descriptors of process pid.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestBinaryOutOfFDs runs the exporter out of file descriptors: its
// RLIMIT_NOFILE is lowered to a few above what it uses, and idle
// connections take the rest. A probe then fails as class local with
// EMFILE, the process keeps running and logs why, and once the
// connections close, probes work again.
func TestBinaryOutOfFDs(t *testing.T) {
	p := startExporter(t, t.TempDir(), "--web.listen-address=127.0.0.1:0")
	addr := p.waitLog(t, listeningRE)
	pid := p.cmd.Process.Pid
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	// One kept-alive connection carries every request, so asking costs
	// the exporter no new descriptor.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	probe := func() (success, errno float64) {
		t.Helper()
		status, body := get("/probe?target=" + target.Addr().String())
		if status != 200 {
			t.Fatalf("/probe: %d %q", status, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		return mfs["probe_success"].GetMetric()[0].GetGauge().GetValue(),
			mfs["probe_tcp_errno"].GetMetric()[0].GetGauge().GetValue()
	}
	if ok, _ := probe(); ok != 1 {
		t.Fatal("the first probe failed")
	}
	get("/metrics") // whatever opens lazily, opens now

	var limit unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &limit); err != nil {
		t.Skipf("cannot read the exporter's RLIMIT_NOFILE: %v", err)
	}
	low := limit
	low.Cur = uint64(countFDs(t, pid) + 4)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Skipf("cannot lower the exporter's RLIMIT_NOFILE: %v", err)
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The server retries; the log, in its usual format, says why.
	p.waitLog(t, regexp.MustCompile(`^ts=\S+ level=error caller=\S+ msg="http: (Accept error): accept tcp \S+: accept4: too many open files; retrying in \w+"$`))

	ok, errno := probe()
	if ok != 0 || errno != float64(unix.EMFILE) {
		t.Errorf("probe with no descriptor left: success %g, errno %g; want 0, %d (EMFILE)", ok, errno, unix.EMFILE)
	}
	_, body := get("/probe?debug=true&target=" + target.Addr().String())
	if !strings.Contains(body, `class=local errno=24 err="socket: too many open files"`) {
		t.Errorf("the debug log does not say why:\n%s", body)
	}
	if status, _ := get("/-/healthy"); status != 200 {
		t.Errorf("/-/healthy with no descriptor left: %d", status)
	}
	status, body := get("/metrics")
	if status != 200 || !strings.Contains(body, `synack_exporter_probe_failures_total{class="local",module="tcp_synack"} 2`) {
		t.Errorf("/metrics with no descriptor left: %d\n%s", status, body)
	}

	// Free the descriptors: the server accepts the waiting connections,
	// finds them closed and closes them; probes work again.
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := probe(); ok == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes still fail 5s after the descriptors were freed (%d open, limit %d)", countFDs(t, pid), low.Cur)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.cmd.ProcessState != nil {
		t.Fatalf("the exporter exited: %v", p.cmd.ProcessState)
	}
}

// TestBinaryChecksWithinFDLimit: under a low RLIMIT_NOFILE the exporter
// sizes its limits to it at start. Probes of ten checks each to a silent
// target fill the check slots; the probes beyond them are refused at once
// (class local, EAGAIN), no check fails for want of a descriptor
// (EMFILE), and /metrics answers while every slot is held.
func TestBinaryChecksWithinFDLimit(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	dir := t.TempDir()
	config := "modules:\n  tcp_ten:\n    timeout: 3s\n    syn_count: 10\n    syn_interval: 0s\n"
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// 320 descriptors: 64 kept back, a quarter of the rest (64) for
	// connections, 192 for checks: 19 probes of 10.
	p := startWrapped(t, buildBinary, []string{"prlimit", "--nofile=320:320"}, dir, "--web.listen-address=127.0.0.1:0")
	sized := p.waitLog(t, regexp.MustCompile(`max_checks_in_flight=(\d+)`))
	addr := p.waitLog(t, listeningRE)
	if sized != "192" {
		t.Fatalf("max_checks_in_flight=%s, want 192", sized)
	}
	silent := loopback.Silent(t)
	const probes, held = 40, 19
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: probes, MaxIdleConnsPerHost: probes}}
	defer client.CloseIdleConnections()
	type answer struct{ success, errno float64 }
	answers := make(chan answer, probes)
	for range probes {
		go func() {
			resp, err := client.Get("http://" + addr + "/probe?module=tcp_ten&target=" + silent.String())
			if err != nil {
				t.Error(err)
				answers <- answer{-1, -1}
				return
			}
			defer resp.Body.Close()
			parser := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := parser.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Error(err)
				answers <- answer{-1, -1}
				return
			}
			answers <- answer{mfs["probe_success"].GetMetric()[0].GetGauge().GetValue(), mfs["probe_tcp_errno"].GetMetric()[0].GetGauge().GetValue()}
		}()
	}
	// The refused ones answer at once, while the held ones wait 3s.
	for range probes - held {
		if a := <-answers; a.errno != float64(unix.EAGAIN) {
			t.Errorf("a probe beyond the slots: success %v errno %v, want refused with EAGAIN", a.success, a.errno)
		}
	}
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics with every slot held: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	t.Logf("/metrics with every check slot held took %v", took)
	if took > time.Second {
		t.Errorf("/metrics took %v with every check slot held", took)
	}
	if !strings.Contains(string(body), "synack_exporter_checks_in_flight 190") {
		t.Errorf("/metrics does not show the 190 checks in flight")
	}
	for range held {
		if a := <-answers; a.errno != float64(unix.ETIMEDOUT) {
			t.Errorf("a probe holding slots: success %v errno %v, want a timeout", a.success, a.errno)
		}
	}
}
