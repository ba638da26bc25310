package continuous

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Names of the per-target metrics.
const (
	checksName      = "synack_checks_total"
	durationName    = "synack_response_duration_seconds"
	retransmitsName = "synack_syn_retransmits_total"
	hashName        = "synack_handshake_hash"
)

var (
	checksDesc = prometheus.NewDesc(checksName,
		"Continuous checks that ended, by class (open, or the failure class); resolve and prohibited count the intervals in which no address could be checked.", nil, nil)
	retransmitsDesc = prometheus.NewDesc(retransmitsName,
		"SYNs the kernel re-sent during continuous checks.", nil, nil)
	hashDesc = prometheus.NewDesc(hashName,
		"FNV-1a 32 hash of the last SYN-ACK's MSS, window, window scale and options, as probe_tcp_handshake_hash.", nil, nil)
)

const durationHelp = "SYN-ACK time of open continuous checks: the kernel's tcpi_rtt when the first SYN was answered, else the time from the first SYN in user space."

// numClasses is the number of prober classes, open included.
var numClasses = len(prober.FailureClasses) + 1

// classPairs are the class labels, one shared pair per class.
var classPairs = func() []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, numClasses)
	for c := range pairs {
		pairs[c] = labelPair("class", prober.Class(c).String())
	}
	return pairs
}()

// eagerClasses have a series from the start: the two that a loss ratio
// needs, so that rate() sees the first loss. The other classes get
// theirs when they first happen.
const eagerClasses = 1<<prober.ClassOpen | 1<<prober.ClassTimeout

// HistogramOptions say which classic buckets the SYN-ACK histogram has
// besides its native ones (histogram.go).
type HistogramOptions struct {
	// Buckets are the classic buckets; none leaves the histogram native
	// only (in the text format it then shows only _count and _sum).
	Buckets []float64
}

// DefaultBuckets are the classic buckets: 50 µs doubling 20 times, up to
// 26 s, the ladder smokeping_prober uses.
var DefaultBuckets = prometheus.ExponentialBuckets(0.00005, 2, 20)

// series is what one address of one target counts; a target's checks
// that reached no address count in a series of their own with an empty
// address label. Counters are atomics, written by whoever ends a check
// and read by Collect without a lock.
type series struct {
	labels      []*dto.LabelPair   // sorted: module, target, address, group labels
	classLabels [][]*dto.LabelPair // labels plus class, for the eager classes
	classes     []atomic.Uint64
	// present has a bit for each class that has a series.
	present     atomic.Uint32
	retransmits atomic.Uint64
	hash        atomic.Uint64 // the hash + 1; 0 before an open answer
	duration    *histogram
	// created is when the counters started from 0, sent with them so
	// that Prometheus can count the first increment of a class whose
	// series appears only when it first happens.
	created *timestamppb.Timestamp
}

// newSeries makes a series whose label pairs are base (module, target,
// the group's labels) plus address.
func newSeries(base []*dto.LabelPair, address string, hist HistogramOptions, eager uint32) *series {
	labels := append(slices.Clone(base), labelPair("address", address))
	sortPairs(labels)
	s := &series{labels: labels, classes: make([]atomic.Uint64, numClasses), created: timestamppb.Now()}
	s.present.Store(eager)
	// The label sets of the classes whose series exist from the start;
	// a scrape makes the others' (rare) as it needs them.
	s.classLabels = make([][]*dto.LabelPair, numClasses)
	for c := range s.classLabels {
		if eager&(1<<c) != 0 {
			s.classLabels[c] = s.withClass(prober.Class(c))
		}
	}
	s.duration = newHistogram(hist.Buckets)
	return s
}

// withClass returns the series' labels with class c's.
func (s *series) withClass(c prober.Class) []*dto.LabelPair {
	l := append(slices.Clone(s.labels), classPairs[c])
	sortPairs(l)
	return l
}

// count records the class of an ended check.
func (s *series) count(c prober.Class) {
	s.classes[c].Add(1)
	if bit := uint32(1) << c; s.present.Load()&bit == 0 {
		s.present.Or(bit)
	}
}

// observe records an open answer.
func (s *series) observe(r prober.Result) {
	s.duration.observe(responseTime(r).Seconds())
	if r.Peer.Known() {
		s.hash.Store(uint64(r.Peer.Hash()) + 1)
	}
}

// responseTime is the time the histogram keeps: the kernel's own
// SYN->SYN-ACK sample (tcpi_rtt, in microseconds, free of the time the
// Go scheduler takes to run the loop), unless a SYN was re-sent, which
// makes that sample unreliable (Karn): then the user-space time from the
// first SYN, which includes the wait for the retransmission.
func responseTime(r prober.Result) time.Duration {
	if r.SYNRetransmits == 0 && r.RTT > 0 && !r.ACKSent() {
		return r.RTT
	}
	return r.SYNACK
}

// collect sends the series' metrics.
func (s *series) collect(ch chan<- prometheus.Metric) {
	present := s.present.Load()
	for c := range s.classes {
		if present&(1<<c) == 0 {
			continue
		}
		labels := s.classLabels[c]
		if labels == nil {
			labels = s.withClass(prober.Class(c))
		}
		ch <- &constMetric{desc: checksDesc, labels: labels, counter: true, value: float64(s.classes[c].Load()), created: s.created}
	}
	ch <- &constMetric{desc: retransmitsDesc, labels: s.labels, counter: true, value: float64(s.retransmits.Load()), created: s.created}
	if h := s.hash.Load(); h != 0 {
		ch <- &constMetric{desc: hashDesc, labels: s.labels, value: float64(h - 1)}
	}
	ch <- durationMetric{s}
}

// durationDesc describes every series' histogram.
var durationDesc = prometheus.NewDesc(durationName, durationHelp, nil, nil)

// durationMetric is a series' histogram with the series' labels.
type durationMetric struct{ s *series }

func (m durationMetric) Desc() *prometheus.Desc { return durationDesc }

func (m durationMetric) Write(out *dto.Metric) error {
	m.s.duration.write(out, m.s.created)
	out.Label = m.s.labels
	return nil
}

// constMetric is a counter or gauge with label pairs made once per
// series, not on each scrape: at 10,000 targets, building them is most
// of a scrape's cost. The pairs are shared and must not be changed,
// which Prometheus's registry promises.
type constMetric struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	counter bool
	value   float64
	created *timestamppb.Timestamp // counters only
}

func (m *constMetric) Desc() *prometheus.Desc { return m.desc }

func (m *constMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	if m.counter {
		out.Counter = &dto.Counter{Value: &m.value, CreatedTimestamp: m.created}
	} else {
		out.Gauge = &dto.Gauge{Value: &m.value}
	}
	return nil
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

func sortPairs(pairs []*dto.LabelPair) {
	slices.SortFunc(pairs, func(a, b *dto.LabelPair) int {
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
}

// selfMetrics are continuous mode's own metrics.
type selfMetrics struct {
	targets    prometheus.Gauge
	deferred   prometheus.Counter
	startDelay prometheus.Histogram
	ackLeaks   prometheus.Counter
}

func newSelfMetrics(reg prometheus.Registerer, ackLeaks prometheus.Counter) *selfMetrics {
	m := &selfMetrics{
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synack_exporter_continuous_targets",
			Help: "Targets this exporter checks continuously (after --continuous.shard).",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synack_exporter_continuous_checks_deferred_total",
			Help: "Continuous checks started after their slot: held back by --continuous.max-rate, or waiting for the same address's previous check to end.",
		}),
		startDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:                            "synack_exporter_continuous_start_delay_seconds",
			Help:                            "How late continuous checks started against their schedule; a growing tail means the exporter cannot keep up.",
			Buckets:                         prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs to 3.3 s
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}),
		ackLeaks: ackLeaks,
	}
	if m.ackLeaks == nil {
		m.ackLeaks = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused_ack_leaks"})
	}
	reg.MustRegister(m.targets, m.deferred, m.startDelay)
	return m
}

// seriesCollector sends every series of the runner. It describes
// nothing (an unchecked collector), because series of different groups
// carry different label names.
type seriesCollector struct{ r *Runner }

func (c seriesCollector) Describe(chan<- *prometheus.Desc) {}

func (c seriesCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.allSeries() {
		s.collect(ch)
	}
}

// isNaNOrInf guards a bucket list from the flag.
func isNaNOrInf(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
