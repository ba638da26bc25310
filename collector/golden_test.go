package collector

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

var update = flag.Bool("update", false, "rewrite collector/testdata/*.prom from the current output")

// goldenRecords are /probe answers whose exact text is kept in
// testdata/NAME.prom, for a reader to see the contract without running
// anything.
var goldenRecords = []struct {
	name string
	rec  probeRecord
}{
	{"open-fingerprint", probeRecord{Timeout: 5 * time.Second, Duration: 1234567 * time.Nanosecond, Result: prober.Result{
		Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("198.18.0.2:443"),
		DNS: 3 * time.Microsecond, SYNACK: 1055 * time.Microsecond, RTT: 1041 * time.Microsecond,
		Peer: prober.Peer{
			MSS: 1460, Window: 65160, HasWindow: true, WindowScale: 7,
			Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale,
		},
	}}},
	// A peer without options, seen from a kernel before 5.4: no window,
	// no window scale.
	{"open-no-options-no-window", probeRecord{Timeout: 5 * time.Second, Duration: 2 * time.Millisecond, Result: prober.Result{
		Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("[fd00:198:18::2]:22"),
		SYNACK: 1500 * time.Microsecond, RTT: 1400 * time.Microsecond,
		Peer: prober.Peer{MSS: 536},
	}}},
	{"refused", probeRecord{Timeout: 5 * time.Second, Duration: 300 * time.Microsecond, Result: prober.Result{
		Class: prober.ClassRefused, Mode: prober.ModeHalfOpen, Errno: syscall.ECONNREFUSED,
		Addr: netip.MustParseAddrPort("127.0.0.1:9"),
	}}},
}

// TestProbeAnswerGolden compares each answer byte for byte with its
// golden file (go test -run Golden -update rewrites them) and lints the
// file with promtool.
func TestProbeAnswerGolden(t *testing.T) {
	for _, g := range goldenRecords {
		t.Run(g.name, func(t *testing.T) {
			compareGolden(t, filepath.Join("testdata", g.name+".prom"), g.rec.appendMetrics(nil))
		})
	}
}

// compareGolden compares got with the golden file at path byte for byte
// (go test -run Golden -update rewrites it from got) and lints the file
// with promtool.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s (-update rewrites it):\n%s", path, got)
	}
	promtoolCheck(t, path)
}

// promtoolCheck runs promtool check metrics on a file.
func promtoolCheck(t *testing.T, path string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus); CI must have it")
		}
		t.Skip("promtool is not installed (Debian package prometheus); set CI=true to make this a failure")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics %s: %v\n%s", path, err, out)
	}
}
