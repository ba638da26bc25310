package continuous

import (
	"math"
	"slices"
	"sort"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Native histogram layout: schema 4, a bucket factor of 2^(1/16) = 1.044
// (the 1.05 or finer asked for), so that a quantile interpolated inside
// one bucket is within about 2.2% of the truth; the zero bucket is
// client_golang's default, far below any SYN-ACK time.
const (
	nativeSchema        = 4
	nativeZeroThreshold = 2.938735877055719e-39 // 2^-128
)

// nativeBounds are the fractions (of math.Frexp) at which schema 4's
// buckets end within one power of two: 0.5 × 2^(j/16).
var nativeBounds = func() []float64 {
	b := make([]float64, 1<<nativeSchema)
	for j := range b {
		b[j] = 0.5 * math.Exp2(float64(j)/float64(len(b)))
	}
	return b
}()

// nativeKey is the index of v's native bucket: bucket i holds
// (2^((i-1)/16), 2^(i/16)].
func nativeKey(v float64) int32 {
	frac, exp := math.Frexp(v)
	return int32(sort.SearchFloat64s(nativeBounds, frac) + (exp-1)*len(nativeBounds))
}

// histogram is a series' SYN-ACK histogram, classic buckets and native
// together, kept compactly: the native buckets in use as two sorted
// slices (12 bytes a bucket), where client_golang's own histogram keeps
// two concurrent maps (about 250 bytes a bucket), the most of a series'
// memory at 10,000 targets. A series' checks end one at a time, so one
// mutex costs nothing; a scrape copies under it.
type histogram struct {
	bounds []float64 // classic upper bounds, shared by every series

	mu      sync.Mutex
	count   uint64
	sum     float64
	classic []uint64 // per bucket, not cumulative; the last is +Inf
	zero    uint64
	keys    []int32 // native bucket indexes in use, increasing
	counts  []uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, classic: make([]uint64, len(bounds)+1)}
}

// observe adds a SYN-ACK time in seconds.
func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	h.sum += v
	h.classic[sort.SearchFloat64s(h.bounds, v)]++
	if v <= nativeZeroThreshold {
		h.zero++
		return
	}
	key := nativeKey(v)
	i, found := slices.BinarySearch(h.keys, key)
	if !found {
		h.keys = slices.Insert(h.keys, i, key)
		h.counts = slices.Insert(h.counts, i, 0)
	}
	h.counts[i]++
}

// write fills out's histogram, in both forms.
func (h *histogram) write(out *dto.Metric, created *timestamppb.Timestamp) {
	h.mu.Lock()
	count, sum, zero := h.count, h.sum, h.zero
	classic := slices.Clone(h.classic)
	keys, counts := slices.Clone(h.keys), slices.Clone(h.counts)
	h.mu.Unlock()

	d := &dto.Histogram{
		SampleCount:      &count,
		SampleSum:        &sum,
		Schema:           new(int32(nativeSchema)),
		ZeroThreshold:    new(float64(nativeZeroThreshold)),
		ZeroCount:        &zero,
		CreatedTimestamp: created,
	}
	var cumulative uint64
	d.Bucket = make([]*dto.Bucket, len(h.bounds))
	for i, upper := range h.bounds {
		cumulative += classic[i]
		d.Bucket[i] = &dto.Bucket{CumulativeCount: new(cumulative), UpperBound: new(upper)}
	}
	d.PositiveSpan, d.PositiveDelta = spans(keys, counts)
	if len(d.PositiveSpan) == 0 {
		// No bucket yet: an empty span tells a parser that this is a
		// native histogram, as client_golang does.
		d.PositiveSpan = []*dto.BucketSpan{{Offset: new(int32(0)), Length: new(uint32(0))}}
	}
	out.Histogram = d
}

// spans encodes the native buckets as spans of adjacent buckets and the
// deltas between consecutive counts.
func spans(keys []int32, counts []uint64) ([]*dto.BucketSpan, []int64) {
	var out []*dto.BucketSpan
	var deltas []int64
	var prev int64
	next := int32(0)
	for i, key := range keys {
		if i == 0 || key != next {
			out = append(out, &dto.BucketSpan{Offset: new(key - next), Length: new(uint32(0))})
		}
		*out[len(out)-1].Length++
		c := int64(counts[i])
		deltas = append(deltas, c-prev)
		prev, next = c, key+1
	}
	return out, deltas
}
