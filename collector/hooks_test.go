package collector

import (
	"errors"
	"html/template"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

// TestHooks checks what continuous mode relies on: a Reloaded error fails
// the reload and the gauge, a part reloaded apart sets the gauge, and the
// landing page shows the section it is given.
func TestHooks(t *testing.T) {
	var fail error
	s := newTestServer(t, Options{
		Reloaded:       func(*config.Config) error { return fail },
		LandingSection: func() template.HTML { return `<h2 id="extra">Extra <b>section</b></h2>` },
	})
	ok := func() float64 { return testutil.ToFloat64(s.metrics.reloadOK) }
	if ok() != 1 {
		t.Fatalf("reload gauge %g after a good load", ok())
	}
	fail = errors.New("target file /x.yml: entry 1: bad")
	if status, _, body := s.post(t, "/-/reload"); status != 500 || !strings.Contains(body, "target file /x.yml") {
		t.Errorf("reload with a bad part: %d %q, want 500 naming the file", status, body)
	}
	if ok() != 0 {
		t.Errorf("reload gauge %g after a bad part, want 0", ok())
	}
	s.ReportPartReload(nil)
	if ok() != 1 {
		t.Errorf("reload gauge %g after the part was fixed, want 1", ok())
	}
	s.ReportPartReload(errors.New("bad again"))
	if ok() != 0 {
		t.Errorf("reload gauge %g after the part broke again, want 0", ok())
	}
	// A good part does not hide a bad configuration file.
	fail = nil
	writeFile(t, s.ConfigPath, "modules: [\n")
	s.post(t, "/-/reload")
	s.ReportPartReload(nil)
	if ok() != 0 {
		t.Errorf("reload gauge %g with a broken config.yml, want 0", ok())
	}
	if _, _, body := s.get(t, "/"); !strings.Contains(body, `<h2 id="extra">Extra <b>section</b></h2>`) {
		t.Error("the landing page lacks the extra section")
	}
	s.ACKLeaks().Inc()
	if got := testutil.ToFloat64(s.metrics.ackLeaks); got != 1 {
		t.Errorf("ack leaks %g after one from outside, want 1", got)
	}
	if s.Registerer() == nil {
		t.Error("no registerer")
	}
}
