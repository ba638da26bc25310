package collector

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReloadFaults breaks the configuration file in each way an operator
// can: a reload fails with a one-line reason, the gauge and the log say
// so, and the configuration loaded before stays in use.
func TestReloadFaults(t *testing.T) {
	s := newTestServer(t, Options{})
	target := "target=" + closedPort(t)
	path := s.ConfigPath
	tests := []struct {
		name   string
		damage func(t *testing.T)
		want   string // the reason, after "failed to reload config: "
	}{
		{"broken YAML", func(t *testing.T) { writeFile(t, path, "modules: [\n") },
			path + ": config: yaml: line 1: did not find expected node content"},
		{"invalid value", func(t *testing.T) { writeFile(t, path, "modules:\n  tcp_synack: {timeout: 0s}\n") },
			path + `: config line 2: module "tcp_synack": timeout: 0s must be greater than zero`},
		{"empty file", func(t *testing.T) { writeFile(t, path, "") },
			path + ": config: no modules defined"},
		{"missing file", func(t *testing.T) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "reading config: open " + path + ": no such file or directory"},
		// A directory in the file's place cannot be read even by root,
		// which chmod 000 cannot stop.
		{"unreadable file", func(t *testing.T) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
		}, "reading config: read " + path + ": is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, path, testConfig+"  tcp_extra: {timeout: 2s}\n")
			if status, _, body := s.post(t, "/-/reload"); status != 200 {
				t.Fatalf("reload of the good file: %d %q", status, body)
			}
			loaded := testutil.ToFloat64(s.metrics.reloadTime)

			const logged = `level=error msg="Error loading config" source=`
			before := strings.Count(s.logs.String(), logged)
			tt.damage(t)
			status, _, body := s.post(t, "/-/reload")
			if want := "failed to reload config: " + tt.want + "\n"; status != 500 || body != want {
				t.Errorf("reload: %d %q\nwant 500 %q", status, body, want)
			}
			if got := testutil.ToFloat64(s.metrics.reloadOK); got != 0 {
				t.Errorf("config_last_reload_successful = %g, want 0", got)
			}
			if got := testutil.ToFloat64(s.metrics.reloadTime); got != loaded {
				t.Errorf("config_last_reload_success_timestamp_seconds moved from %g to %g", loaded, got)
			}
			logs := s.logs.String()
			last := logs[max(strings.LastIndex(logs, logged), 0):]
			if strings.Count(logs, logged) != before+1 || !strings.Contains(last, strings.ReplaceAll(tt.want, `"`, `\"`)) {
				t.Errorf("the log does not say why:\n%s", logs)
			}
			// The module only the old configuration has still probes.
			if status, _, body := s.get(t, "/probe?module=tcp_extra&"+target); status != 200 {
				t.Errorf("old configuration not kept: %d %q", status, body)
			}
			// And the exporter itself carries on.
			if status, _, _ := s.get(t, "/metrics"); status != 200 {
				t.Errorf("/metrics after a failed reload: %d", status)
			}
		})
	}
}
