package main

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather observes xs into a histogram with classic buckets, native
// buckets or both, and returns it as a scrape would.
func gather(t *testing.T, classic []float64, factor float64, xs ...float64) families {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "h", Help: "h", Buckets: classic, NativeHistogramBucketFactor: factor,
		NativeHistogramZeroThreshold: 1e-9, NativeHistogramMaxZeroThreshold: 1e-9,
	}, []string{"series"})
	reg.MustRegister(h)
	for i, x := range xs {
		h.WithLabelValues(string(rune('a' + i%2))).Observe(x) // two series, merged
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	f := make(families)
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f
}

func TestHistogramQuantile(t *testing.T) {
	var xs []float64
	for i := 1; i <= 1000; i++ {
		xs = append(xs, float64(i)*1e-4) // 0.1 ms .. 100 ms, uniform
	}
	// The first scrape holds xs[:10]: the rest, 1.1 ms .. 100 ms, has
	// its median at 50.55 ms and its p99 at 99.1 ms.
	for _, tc := range []struct {
		name    string
		classic []float64
		factor  float64
		q, want float64
		within  float64 // relative
	}{
		{"classic buckets, median", prometheus.LinearBuckets(0.01, 0.01, 10), 0, 0.5, 0.05055, 0.005},
		{"classic buckets, p99", prometheus.LinearBuckets(0.01, 0.01, 10), 0, 0.99, 0.0991, 0.005},
		{"native buckets only, median", nil, 1.05, 0.5, 0.05055, 0.025},
		{"native buckets only, p99", nil, 1.05, 0.99, 0.0991, 0.025},
	} {
		t.Run(tc.name, func(t *testing.T) {
			classic := tc.classic
			if classic == nil {
				classic = []float64{} // no classic buckets at all
			}
			before := gather(t, classic, tc.factor, xs[:10]...).histogram("h")
			after := gather(t, classic, tc.factor, xs...).histogram("h")
			d := after.since(before)
			if d.count != 990 {
				t.Fatalf("count since the first scrape = %d, want 990", d.count)
			}
			if tc.classic == nil && (len(d.classic) > 0 || len(d.native) == 0) {
				t.Fatalf("want native buckets only, got %d classic and %d native", len(d.classic), len(d.native))
			}
			got := d.quantile(tc.q)
			if math.Abs(got-tc.want) > tc.within*tc.want {
				t.Errorf("quantile(%g) = %g, want %g within %g%%", tc.q, got, tc.want, 100*tc.within)
			}
		})
	}
}

func TestHistogramQuantileEmpty(t *testing.T) {
	h := gather(t, prometheus.DefBuckets, 0).histogram("h")
	if got := quantileDur(h, 0.5); got != 0 {
		t.Errorf("quantile of no observations = %v, want 0", got)
	}
}

func TestFamiliesSum(t *testing.T) {
	name, class, target := "synack_checks_total", "class", "target"
	counter := func(c, tg string, v float64) *dto.Metric {
		return &dto.Metric{Label: []*dto.LabelPair{{Name: &class, Value: &c}, {Name: &target, Value: &tg}}, Counter: &dto.Counter{Value: &v}}
	}
	f := families{name: {Name: &name, Metric: []*dto.Metric{counter("open", "a", 5), counter("timeout", "a", 2), counter("open", "b", 3)}}}
	for _, tc := range []struct {
		match []string
		want  float64
	}{
		{nil, 10},
		{[]string{"class", "open"}, 8},
		{[]string{"class", "open", "target", "b"}, 3},
		{[]string{"class", "refused"}, 0},
	} {
		if got := f.sum(name, tc.match...); got != tc.want {
			t.Errorf("sum(%v) = %g, want %g", tc.match, got, tc.want)
		}
	}
}
