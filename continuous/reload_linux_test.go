package continuous

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestReloadKeepsCounters(t *testing.T) {
	requireLinux(t)
	_, kept := listen(t, "tcp4", "127.0.0.1:0")
	_, removed := listen(t, "tcp4", "127.0.0.1:0")
	_, added := listen(t, "tcp4", "127.0.0.1:0")
	r, reg := newRunner(t, Options{})
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "10ms", kept, removed))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "20 checks of each", func() bool {
		return checks(t, reg, kept, "open") >= 20 && checks(t, reg, removed, "open") >= 20
	})
	// The same target in a new configuration, with another interval.
	before := checks(t, reg, kept, "open")
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "20ms", kept, added))); err != nil {
		t.Fatal(err)
	}
	if after := checks(t, reg, kept, "open"); after < before {
		t.Errorf("%s: %g checks after the reload, %g before: a reload reset its counter", kept, after, before)
	}
	waitFor(t, 10*time.Second, "checks of the new target", func() bool { return checks(t, reg, added, "open") >= 5 })
	mfs := gather(t, reg)
	for _, name := range []string{checksName, durationName, retransmitsName} {
		if n := len(seriesOf(mfs, name, removed)); n != 0 {
			t.Errorf("%s: %d series of the removed target %s remain", name, n, removed)
		}
	}
	if got := checks(t, reg, kept, "open"); got <= before {
		t.Errorf("%s: %g checks, %g before the reload: it stopped", kept, got, before)
	}
}

func TestResolveFailureCounts(t *testing.T) {
	requireLinux(t)
	_, open := listen(t, "tcp4", "127.0.0.1:0")
	ap := netip.MustParseAddrPort(open)
	resolver := staticResolver{"allowed.test": {ap.Addr()}, "outside.test": {netip.MustParseAddr("127.0.0.2")}}
	r, reg := newRunner(t, Options{Checker: newChecker(t, resolver), ResolveInterval: time.Hour})
	doc := groupDoc("    timeout: 1s\n    preferred_ip_protocol: ip4\n    allowed_targets: [127.0.0.1, \"*.test\"]\n    denied_targets: [127.0.0.2]", "20ms",
		"missing.test:80", "outside.test:80", "allowed.test:"+itoa(ap.Port()))
	if err := r.Apply(load(t, doc)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "10 intervals of each", func() bool {
		return checks(t, reg, "missing.test:80", "resolve") >= 10 &&
			checks(t, reg, "outside.test:80", "prohibited") >= 10 &&
			checks(t, reg, "allowed.test:"+itoa(ap.Port()), "open") >= 10
	})
	mfs := gather(t, reg)
	if got := value(mfs, checksName, map[string]string{"target": "missing.test:80", "address": "", "class": "resolve"}); got < 10 {
		t.Errorf("resolve failures counted under address %q: %g", "", got)
	}
	// Only the classes that happened have series for a target with no
	// address.
	if n := len(seriesOf(mfs, checksName, "missing.test:80")); n != 1 {
		t.Errorf("missing.test:80 has %d checks_total series, want 1 (resolve)", n)
	}
}

func TestGoneAddressLosesSeries(t *testing.T) {
	requireLinux(t)
	_, first := listen(t, "tcp4", "127.0.0.1:0")
	port := netip.MustParseAddrPort(first).Port()
	listen(t, "tcp4", "127.0.0.3:"+itoa(port))
	resolver := &switchResolver{addr: netip.MustParseAddr("127.0.0.1")}
	r, reg := newRunner(t, Options{Checker: newChecker(t, resolver), ResolveInterval: 20 * time.Millisecond})
	target := "db.test:" + itoa(port)
	if err := r.Apply(load(t, groupDoc("    timeout: 1s\n    preferred_ip_protocol: ip4", "10ms", target))); err != nil {
		t.Fatal(err)
	}
	addrOpen := func(addr string) float64 {
		return value(gather(t, reg), checksName, map[string]string{"target": target, "address": addr, "class": "open"})
	}
	waitFor(t, 10*time.Second, "checks of the first address", func() bool { return addrOpen("127.0.0.1") >= 5 })
	resolver.set(netip.MustParseAddr("127.0.0.3"))
	waitFor(t, 10*time.Second, "checks of the new address", func() bool { return addrOpen("127.0.0.3") >= 5 })
	// Gone for more than 5 intervals (50ms): its series go.
	waitFor(t, 10*time.Second, "the old address's series to go", func() bool {
		for _, m := range seriesOf(gather(t, reg), checksName, target) {
			if hasLabels(m, map[string]string{"address": "127.0.0.1"}) {
				return false
			}
		}
		return true
	})
}

func TestTargetFiles(t *testing.T) {
	requireLinux(t)
	_, a := listen(t, "tcp4", "127.0.0.1:0")
	_, b := listen(t, "tcp4", "127.0.0.1:0")
	dir := t.TempDir()
	file := filepath.Join(dir, "db.yml")
	write := func(data string) {
		t.Helper()
		// A new name then a rename, so the poll sees a new mtime or size.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("- targets: [" + a + "]\n  labels: {rack: r1}\n")
	reports := make(chan error, 10)
	r, reg := newRunner(t, Options{ResolveInterval: 20 * time.Millisecond, ReportFiles: func(err error) { reports <- err }})
	doc := "modules:\n  m:\n    timeout: 1s\ncontinuous:\n  - files: [" + filepath.Join(dir, "*.yml") + "]\n    module: m\n    interval: 10ms\n    labels: {team: db}\n"
	if err := r.Apply(load(t, doc)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "checks of the file's target", func() bool {
		return value(gather(t, reg), checksName, map[string]string{"target": a, "rack": "r1", "team": "db", "class": "open"}) >= 3
	})
	// A bad file keeps what the file had, and says so.
	write("- targets: [" + b + "\n")
	select {
	case err := <-reports:
		if err == nil {
			t.Fatal("a bad file reported no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report of the bad file")
	}
	before := checks(t, reg, a, "open")
	waitFor(t, 10*time.Second, "the old target to go on", func() bool { return checks(t, reg, a, "open") > before })
	// Fixed: the new target list applies.
	write("- targets: [" + b + "]\n")
	waitFor(t, 10*time.Second, "the fixed file's target", func() bool { return checks(t, reg, b, "open") >= 3 })
	waitFor(t, 10*time.Second, "the old target to go", func() bool { return len(seriesOf(gather(t, reg), checksName, a)) == 0 })
}

// seriesOf returns name's series of a target.
func seriesOf(mfs map[string]*dto.MetricFamily, name, target string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range mfs[name].GetMetric() {
		if hasLabels(m, map[string]string{"target": target}) {
			out = append(out, m)
		}
	}
	return out
}

func TestTargetFilesErrorsOnOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.yml", "b.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("- targets: [127.0.0.1]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := newRunner(t, Options{Checker: newFakeChecker(0)})
	doc := "modules:\n  m: {}\ncontinuous:\n  - files: [" + filepath.Join(dir, "*.yml") + ", " + filepath.Join(dir, "*.json") + "]\n    module: m\n"
	err := r.Apply(load(t, doc))
	if err == nil {
		t.Fatal("Apply accepted two bad files")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, "a.yml") || !strings.Contains(msg, "b.json") {
		t.Errorf("error %q: want one line naming both files", msg)
	}
}
