package continuous

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestHistogramAsClientGolang observes the same SYN-ACK times into this
// package's histogram and into client_golang's with the same layout, and
// requires the same classic buckets, count, sum and native buckets.
func TestHistogramAsClientGolang(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values func(r *rand.Rand) float64
	}{
		{"loopback, tens of µs", func(r *rand.Rand) float64 { return 20e-6 + r.Float64()*80e-6 }},
		{"a WAN path with a tail", func(r *rand.Rand) float64 { return 0.02 * math.Exp(r.NormFloat64()*0.5) }},
		{"powers of two, on bucket edges", func(r *rand.Rand) float64 { return math.Exp2(-float64(r.IntN(20))) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			theirs := prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "x", Help: "x", Buckets: DefaultBuckets,
				NativeHistogramBucketFactor: 1.05, NativeHistogramMaxBucketNumber: 10000,
			})
			ours := newHistogram(DefaultBuckets)
			r := rand.New(rand.NewPCG(1, 2))
			for range 5000 {
				v := tt.values(r)
				theirs.Observe(v)
				ours.observe(v)
			}
			var want, got dto.Metric
			if err := theirs.Write(&want); err != nil {
				t.Fatal(err)
			}
			ours.write(&got, nil)
			w, g := want.GetHistogram(), got.GetHistogram()
			if g.GetSchema() != w.GetSchema() || g.GetZeroThreshold() != w.GetZeroThreshold() {
				t.Errorf("schema %d, zero threshold %g; client_golang: %d, %g", g.GetSchema(), g.GetZeroThreshold(), w.GetSchema(), w.GetZeroThreshold())
			}
			if g.GetSampleCount() != w.GetSampleCount() || math.Abs(g.GetSampleSum()-w.GetSampleSum()) > 1e-9 {
				t.Errorf("count %d sum %g; client_golang: %d %g", g.GetSampleCount(), g.GetSampleSum(), w.GetSampleCount(), w.GetSampleSum())
			}
			for i, b := range w.GetBucket() {
				if g.GetBucket()[i].GetCumulativeCount() != b.GetCumulativeCount() || g.GetBucket()[i].GetUpperBound() != b.GetUpperBound() {
					t.Errorf("classic bucket %d: %v; client_golang: %v", i, g.GetBucket()[i], b)
				}
			}
			gb, wb := decodeNative(g), decodeNative(w)
			if len(gb) != len(wb) {
				t.Errorf("%d native buckets; client_golang: %d", len(gb), len(wb))
			}
			for k, c := range wb {
				if gb[k] != c {
					t.Errorf("native bucket %d: %d; client_golang: %d", k, gb[k], c)
				}
			}
		})
	}
}

// decodeNative returns a histogram's native buckets by index, leaving
// out empty ones.
func decodeNative(h *dto.Histogram) map[int32]int64 {
	out := map[int32]int64{}
	var key int32
	var count int64
	d := 0
	for i, s := range h.GetPositiveSpan() {
		if i == 0 {
			key = s.GetOffset()
		} else {
			key += s.GetOffset()
		}
		for range s.GetLength() {
			count += h.GetPositiveDelta()[d]
			d++
			if count != 0 {
				out[key] = count
			}
			key++
		}
	}
	return out
}

func TestHistogramEmpty(t *testing.T) {
	var m dto.Metric
	newHistogram(nil).write(&m, nil)
	h := m.GetHistogram()
	// A native histogram without observations still says it is one.
	if len(h.GetPositiveSpan()) != 1 || h.GetSchema() != nativeSchema || len(h.GetBucket()) != 0 {
		t.Errorf("empty histogram: %v", h)
	}
}
