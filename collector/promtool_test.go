package collector

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPromtoolCheckMetrics lints a /probe answer and /metrics with
// promtool, as Prometheus users' tooling would.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus); CI must have it")
		}
		t.Skip("promtool is not installed (Debian package prometheus); set CI=true to make this a failure")
	}
	s := newTestServer(t, Options{})
	open := openPort(t, "tcp4", "127.0.0.1:0")
	for _, path := range []string{
		"/probe?target=" + open,
		"/probe?target=" + closedPort(t),
		"/metrics",
	} {
		t.Run(path, func(t *testing.T) {
			status, _, body := s.get(t, path)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s\ninput:\n%s", err, out, body)
			}
		})
	}
}
