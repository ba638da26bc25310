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
	"syscall"
	"testing"
	"time"
)

// TestBinaryContinuous runs the binary in continuous mode: targets are
// checked with no scrape of /probe, a SIGHUP swaps one target for
// another, and the landing page shows them.
func TestBinaryContinuous(t *testing.T) {
	var targets [2]string
	for i := range targets {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		targets[i] = l.Addr().String()
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	doc := "modules:\n  tcp_synack: {timeout: 1s}\ncontinuous:\n  - targets: [%q]\n    interval: 20ms\n    labels: {team: db}\n"
	writeConfig(t, path, fmt.Sprintf(doc, targets[0]))
	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0", "--config.file="+path, "--continuous.buckets=")
	addr := p.waitLog(t, listeningRE)
	open := func(target string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^synack_checks_total\{address="127.0.0.1",class="open",module="tcp_synack",target="` + regexp.QuoteMeta(target) + `",team="db"\} ([1-9]\d*)$`)
	}
	waitMetrics(t, addr, open(targets[0]))

	writeConfig(t, path, fmt.Sprintf(doc, targets[1]))
	p.cmd.Process.Signal(syscall.SIGHUP)
	body := waitMetrics(t, addr, open(targets[1]))
	if strings.Contains(body, `target="`+targets[0]+`"`) {
		t.Errorf("the removed target %s still has series", targets[0])
	}
	// Classic buckets off: the histogram has only +Inf in the text format.
	if strings.Contains(body, `synack_response_duration_seconds_bucket{address="127.0.0.1",module="tcp_synack",target="`+targets[1]+`",team="db",le="5e-05"}`) {
		t.Error("classic buckets with --continuous.buckets=\"\"")
	}
	if page := fetch(t, "http://"+addr+"/"); !strings.Contains(page, `id="continuous"`) || !strings.Contains(page, targets[1]) {
		t.Errorf("the landing page lacks the continuous section or its target:\n%s", page)
	}
}

// waitMetrics polls /metrics until re matches, and returns the page.
func waitMetrics(t *testing.T, addr string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		body := fetch(t, "http://"+addr+"/metrics")
		if re.MatchString(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never matched %v:\n%s", re, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fetch(t *testing.T, url string) string {
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

// TestBinaryBadTargetFile: a target file that does not parse leaves the
// exporter up, says why, and reads 0 in the reload gauge until fixed.
func TestBinaryBadTargetFile(t *testing.T) {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets", "db.yml")
	if err := os.Mkdir(filepath.Dir(targets), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, targets, "- targets: [127.0.0.1\n")
	path := filepath.Join(dir, "config.yml")
	writeConfig(t, path, "modules:\n  tcp_synack: {}\ncontinuous:\n  - files: ["+filepath.Join(dir, "targets", "*.yml")+"]\n")
	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0", "--config.file="+path)
	p.waitLog(t, regexp.MustCompile(`msg="Error loading part of the config" .*err="(target file \S+db.yml: [^"]+)"`))
	addr := p.waitLog(t, listeningRE)
	waitMetrics(t, addr, regexp.MustCompile(`(?m)^synack_exporter_config_last_reload_successful (0)$`))

	writeConfig(t, targets, "- targets: [127.0.0.1:1]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetrics(t, addr, regexp.MustCompile(`(?m)^synack_exporter_config_last_reload_successful (1)$`))
	waitMetrics(t, addr, regexp.MustCompile(`(?m)^synack_checks_total\{address="127.0.0.1",class="refused",module="tcp_synack",target="127.0.0.1:1"\} ([1-9]\d*)$`))
}

// TestConfigCheckReadsTargetFiles: --config.check reads the target
// files too, and names a bad one.
func TestConfigCheckReadsTargetFiles(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	targets := filepath.Join(dir, "db.yml")
	writeConfig(t, targets, "- targets: [127.0.0.1]\n")
	path := filepath.Join(dir, "config.yml")
	writeConfig(t, path, "modules:\n  tcp_synack: {}\ncontinuous:\n  - files: ["+filepath.Join(dir, "db.*")+"]\n")
	out, _ := exec.Command(bin, "--config.check", "--config.file="+path).CombinedOutput()
	want := "target file " + targets + `: entry 1: target "127.0.0.1" is not host:port: missing port in address` + "\n"
	if string(out) != want {
		t.Errorf("--config.check said %q, want %q", out, want)
	}
	writeConfig(t, targets, "- targets: [127.0.0.1:22]\n")
	if out, err := exec.Command(bin, "--config.check", "--config.file="+path).CombinedOutput(); err != nil {
		t.Errorf("--config.check of a good file: %v, %s", err, out)
	}
}
