package collector

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// TestEscapedACKIsLoggedAtWarn: a half-open check whose ACK escaped (the
// prober reports it open with ACKSent, issue 16) is a success whose
// probe_tcp_ack_sent is 1, and the process log says so at warn, with the
// address; a full connect, which sends the ACK by design, logs nothing.
func TestEscapedACKIsLoggedAtWarn(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.0.2:80")
	results := map[string]prober.Result{
		"leak.test:80":    {Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: addr, ACKs: 1},
		"connect.test:80": {Class: prober.ClassOpen, Mode: prober.ModeConnect, Addr: addr, ACKs: 1},
	}
	s := newTestServer(t, Options{Checker: checkerFunc(func(_ context.Context, target string) prober.Result {
		return results[target]
	})})
	_, _, body := s.get(t, "/probe?target=leak.test:80")
	mfs := parseMetrics(t, body)
	if gaugeValue(t, mfs, "probe_success") != 1 || gaugeValue(t, mfs, "probe_tcp_ack_sent") != 1 {
		t.Errorf("escaped ACK: want probe_success 1 and probe_tcp_ack_sent 1:\n%s", body)
	}
	warn := func() []string {
		var lines []string
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(l, "level=warn") && strings.Contains(l, "An ACK left before the RST") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	if got := warn(); len(got) != 1 || !strings.Contains(got[0], "addr=198.18.0.2:80") || !strings.Contains(got[0], "target=leak.test:80") {
		t.Errorf("warn lines %q, want one naming the target and address; log:\n%s", got, s.logs)
	}
	s.get(t, "/probe?target=connect.test:80")
	if got := warn(); len(got) != 1 {
		t.Errorf("a full connect logged an ACK leak: %q", got)
	}
}

// TestProbeLinesNeedDebugLog: a probe writes its debug lines to the
// process log only with Options.DebugLog (--log.level=debug); without it
// they are not built at all, while ?debug=true still shows them.
func TestProbeLinesNeedDebugLog(t *testing.T) {
	open := checkerFunc(func(context.Context, string) prober.Result { return openResult })
	for _, debugLog := range []bool{false, true} {
		s := newTestServer(t, Options{Checker: open, DebugLog: debugLog})
		_, _, body := s.get(t, "/probe?target=127.0.0.1:22&debug=true")
		if !strings.Contains(body, `msg="Probe succeeded"`) {
			t.Errorf("DebugLog %v: ?debug=true lacks the probe's lines:\n%s", debugLog, body)
		}
		logged := strings.Contains(s.logs.String(), `msg="Probe succeeded"`)
		if logged != debugLog {
			t.Errorf("DebugLog %v: probe lines in the process log: %v\n%s", debugLog, logged, s.logs)
		}
	}
}

// TestACKLeaksCountChecks: ack_leaks_total counts checks whose ACK
// escaped, not probes (issue 16), so that it matches the ACKs on the
// wire: a probe of four checks, two of which let an ACK out, adds 2 and
// sets probe_tcp_ack_sent to 1; a probe of one check adds 1; a full
// connect of several checks adds nothing.
func TestACKLeaksCountChecks(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.0.2:80")
	var n atomic.Int32
	s := newTestServer(t, Options{Checker: checkerFunc(func(_ context.Context, target string) prober.Result {
		mode := prober.ModeHalfOpen
		if strings.HasPrefix(target, "connect.") {
			mode = prober.ModeConnect
		}
		// Every other check lets its ACK out.
		var acks uint32
		if n.Add(1)%2 == 0 {
			acks = 1
		}
		return prober.Result{Class: prober.ClassOpen, Mode: mode, Addr: addr, ACKs: acks}
	})})
	writeFile(t, s.ConfigPath, testConfig+"  four:\n    syn_count: 4\n    syn_interval: 0s\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	leaks := func() float64 { return testutil.ToFloat64(s.metrics.ackLeaks) }
	for _, step := range []struct {
		query   string
		ackSent float64
		want    float64
	}{
		{"module=four&target=leak.test:80", 1, 2},
		{"module=tcp_synack&target=leak.test:80", 0, 2}, // check 5: no ACK
		{"module=tcp_synack&target=leak.test:80", 1, 3}, // check 6: ACK
		{"module=four&target=connect.test:80", 1, 3},
	} {
		_, _, body := s.get(t, "/probe?"+step.query)
		if got := gaugeValue(t, parseMetrics(t, body), "probe_tcp_ack_sent"); got != step.ackSent {
			t.Errorf("%s: probe_tcp_ack_sent %g, want %g", step.query, got, step.ackSent)
		}
		if got := leaks(); got != step.want {
			t.Errorf("after %s: ack_leaks_total %g, want %g", step.query, got, step.want)
		}
	}
}
