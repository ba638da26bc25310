package continuous

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// testSeries is a series with a few ended checks of each kind.
func testSeries(buckets []float64) *series {
	base := []*dto.LabelPair{labelPair("module", "m"), labelPair("target", "127.0.0.1:22"), labelPair("team", "db")}
	s := newSeries(base, "127.0.0.1", HistogramOptions{Buckets: buckets}, eagerClasses)
	for _, d := range []time.Duration{100 * time.Microsecond, 150 * time.Microsecond, 3 * time.Millisecond} {
		r := prober.Result{Class: prober.ClassOpen, RTT: d, SYNACK: d + 50*time.Microsecond, Peer: prober.Peer{MSS: 1460}}
		s.count(r.Class)
		s.observe(r)
	}
	s.count(prober.ClassRefused)
	s.retransmits.Add(2)
	return s
}

type oneSeries struct{ s *series }

func (c oneSeries) Describe(chan<- *prometheus.Desc)    {}
func (c oneSeries) Collect(ch chan<- prometheus.Metric) { c.s.collect(ch) }

func TestSeriesExposition(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(oneSeries{testSeries([]float64{0.0001, 0.001})})
	want := `# HELP synack_checks_total Continuous checks that ended, by class (open, or the failure class); resolve and prohibited count the intervals in which no address could be checked.
# TYPE synack_checks_total counter
synack_checks_total{address="127.0.0.1",class="open",module="m",target="127.0.0.1:22",team="db"} 3
synack_checks_total{address="127.0.0.1",class="refused",module="m",target="127.0.0.1:22",team="db"} 1
synack_checks_total{address="127.0.0.1",class="timeout",module="m",target="127.0.0.1:22",team="db"} 0
# HELP synack_response_duration_seconds SYN-ACK time of open continuous checks: the kernel's tcpi_rtt when the first SYN was answered, else the time from the first SYN in user space.
# TYPE synack_response_duration_seconds histogram
synack_response_duration_seconds_bucket{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db",le="0.0001"} 1
synack_response_duration_seconds_bucket{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db",le="0.001"} 2
synack_response_duration_seconds_bucket{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db",le="+Inf"} 3
synack_response_duration_seconds_sum{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db"} 0.0032500000000000003
synack_response_duration_seconds_count{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db"} 3
# HELP synack_syn_retransmits_total SYNs the kernel re-sent during continuous checks.
# TYPE synack_syn_retransmits_total counter
synack_syn_retransmits_total{address="127.0.0.1",module="m",target="127.0.0.1:22",team="db"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), checksName, durationName, retransmitsName); err != nil {
		t.Error(err)
	}
	// Counters carry their start, so that Prometheus can count the first
	// check of a class whose series appears only then.
	for _, m := range gather(t, reg)[checksName].GetMetric() {
		if m.GetCounter().GetCreatedTimestamp() == nil {
			t.Errorf("%v has no created timestamp", m.GetLabel())
		}
	}
	if n, err := testutil.GatherAndCount(reg, hashName); err != nil || n != 1 {
		t.Errorf("%s: %d series (%v), want 1 after an open answer", hashName, n, err)
	}
}

func TestNativeHistogram(t *testing.T) {
	for _, tt := range []struct {
		name    string
		buckets []float64
	}{{"with classic buckets", DefaultBuckets}, {"native only", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(oneSeries{testSeries(tt.buckets)})
			mfs := gather(t, reg)
			h := mfs[durationName].GetMetric()[0].GetHistogram()
			// Schema 4: a bucket factor of 2^(1/16) = 1.044, at most 1.05.
			if h.GetSchema() != 4 {
				t.Errorf("schema %d, want 4", h.GetSchema())
			}
			if h.GetZeroThreshold() <= 0 {
				t.Errorf("zero threshold %g, want it set", h.GetZeroThreshold())
			}
			if len(h.GetPositiveSpan()) == 0 || len(h.GetPositiveDelta()) != 3 {
				t.Errorf("spans %v, deltas %v: want three populated native buckets", h.GetPositiveSpan(), h.GetPositiveDelta())
			}
			if got := len(h.GetBucket()); got != len(tt.buckets) {
				t.Errorf("%d classic buckets, want %d", got, len(tt.buckets))
			}
		})
	}
}

func TestResponseTime(t *testing.T) {
	tests := []struct {
		name string
		r    prober.Result
		want time.Duration
	}{
		{"first SYN answered: the kernel's sample", prober.Result{RTT: 100 * time.Microsecond, SYNACK: 180 * time.Microsecond}, 100 * time.Microsecond},
		{"after a retransmission: user space from the first SYN", prober.Result{RTT: 100 * time.Microsecond, SYNACK: 1100 * time.Millisecond, SYNRetransmits: 1}, 1100 * time.Millisecond},
		{"no kernel sample", prober.Result{SYNACK: 180 * time.Microsecond}, 180 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := responseTime(tt.r); got != tt.want {
				t.Errorf("responseTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseBuckets(t *testing.T) {
	if got, err := ParseBuckets(FormatBuckets(DefaultBuckets)); err != nil || len(got) != 20 || got[0] != 0.00005 {
		t.Errorf("the default round trip: %v, %v", got, err)
	}
	if got, err := ParseBuckets(""); err != nil || got != nil {
		t.Errorf(`ParseBuckets("") = %v, %v; want none`, got, err)
	}
	for _, bad := range []string{"0.1,0.05", "x", "-1", "0", "NaN", "0.1,,0.2"} {
		if _, err := ParseBuckets(bad); err == nil {
			t.Errorf("ParseBuckets(%q) succeeded", bad)
		}
	}
}
