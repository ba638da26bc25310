package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildBinary builds synack_exporter once per test run; buildRaceBinary
// builds it with the race detector, for the tests that look for data
// races in the serving path.
var (
	buildBinary     = sync.OnceValues(func() (string, error) { return build() })
	buildRaceBinary = sync.OnceValues(func() (string, error) { return build("-race") })
	builtDirs       []string // removed by TestMain
	builtDirsMu     sync.Mutex
)

func build(flags ...string) (string, error) {
	dir, err := os.MkdirTemp("", "synack_exporter_test")
	if err != nil {
		return "", err
	}
	builtDirsMu.Lock()
	builtDirs = append(builtDirs, dir)
	builtDirsMu.Unlock()
	bin := filepath.Join(dir, "synack_exporter")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range builtDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// exporterProcess is the built binary running in a test's directory.
type exporterProcess struct {
	cmd   *exec.Cmd
	lines chan string // stderr, line by line
	log   strings.Builder
}

func startExporter(t *testing.T, dir string, args ...string) *exporterProcess {
	t.Helper()
	return startBuilt(t, buildBinary, dir, args...)
}

// startBuilt runs the binary that build returns in dir.
func startBuilt(t *testing.T, build func() (string, error), dir string, args ...string) *exporterProcess {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end test checks half-open probes, which need Linux")
	}
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	p := &exporterProcess{cmd: exec.Command(bin, args...), lines: make(chan string, 100)}
	p.cmd.Dir = dir
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// waitLog returns the first submatch of re in the next stderr line that
// matches, failing if the process ends or says nothing for 10s.
func (p *exporterProcess) waitLog(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("exporter exited before logging %v; its log:\n%s", re, p.log.String())
			}
			p.log.WriteString(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				return m[len(m)-1]
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no log line matching %v within 10s; log so far:\n%s", re, p.log.String())
		}
	}
}

var listeningRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

func TestBinaryWithNoFiles(t *testing.T) {
	dir := t.TempDir() // empty: no config.yml, so the embedded one is used
	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0")
	p.waitLog(t, regexp.MustCompile(`msg="Loaded config" source="(embedded default)"`))
	addr := p.waitLog(t, listeningRE)

	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	resp, err := http.Get("http://" + addr + "/probe?target=" + target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/probe: %d %v\n%s", resp.StatusCode, err, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /probe answer: %v\n%s", err, body)
	}
	for name, want := range map[string]float64{"probe_success": 1, "probe_tcp_ack_sent": 0} {
		mf, ok := mfs[name]
		if !ok || mf.GetMetric()[0].GetGauge().GetValue() != want {
			t.Errorf("%s: got %v, want %g\n%s", name, mf, want, body)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`msg="(Shutting down)`))
	for range p.lines { // drain stderr so Wait can return
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestBinaryReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "modules.yml")
	writeConfig(t, path, "modules:\n  tcp_synack: {}\n")
	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0", "--config.file="+path)
	p.waitLog(t, regexp.MustCompile(`msg="Loaded config" source=\S*modules.yml modules=(1)`))

	writeConfig(t, path, "modules:\n  tcp_synack: {}\n  tcp_other: {}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, regexp.MustCompile(`msg="Loaded config" source=\S*modules.yml modules=(2)`))

	writeConfig(t, path, "modules: [\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, regexp.MustCompile(`ts=\S+ level=error msg="(Error loading config)"`))
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	writeConfig(t, good, "modules:\n  tcp_synack:\n    timeout: 2s\n")
	writeConfig(t, bad, "modules:\n  tcp_synack:\n    timeout: 2s\n    colour: blue\n")
	tests := []struct {
		name     string
		args     []string
		exitCode int
		stdout   string
		stderr   string
	}{
		{"embedded", []string{"--config.check"}, 0, "embedded default: config is valid\n", ""},
		{"valid file", []string{"--config.check", "--config.file=" + good}, 0, good + ": config is valid\n", ""},
		{"invalid file", []string{"--config.check", "--config.file=" + bad}, 1, "", bad + ": "},
		{"missing file", []string{"--config.check", "--config.file=" + filepath.Join(dir, "none.yml")}, 1, "", "reading config: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, err := buildBinary()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, tt.args...)
			cmd.Dir = dir
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tt.exitCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.exitCode, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.HasPrefix(stderr.String(), tt.stderr) || strings.Count(stderr.String(), "\n") != boolToInt(tt.stderr != "") {
				t.Errorf("stderr %q, want one line starting %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestBadFlagValues: a flag value out of range stops the exporter at once
// with one error line that names the flag.
func TestBadFlagValues(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--timeout-offset=-1s", "--web.idle-timeout=0s",
		"--continuous.shard=3/2", "--continuous.buckets=0.1,0.05", "--continuous.resolve-interval=0s", "--continuous.max-rate=-1"} {
		t.Run(flag, func(t *testing.T) {
			cmd := exec.Command(bin, flag, "--web.listen-address=127.0.0.1:0")
			cmd.Dir = t.TempDir()
			out, _ := cmd.CombinedOutput()
			name, _, _ := strings.Cut(flag, "=")
			if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), name) {
				t.Errorf("exit code %d, output %q; want 1 and one line naming %s", code, out, name)
			}
		})
	}
}
