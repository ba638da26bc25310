package main

// Reading /metrics of the processes the continuous scenario measures:
// counters summed over their series, and histograms merged over their
// series so that a quantile of the whole run can be read from the
// difference of two scrapes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// protoAccept asks client_golang for the protobuf exposition, the only
// one that carries native histogram buckets.
const protoAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"

// families is one scrape, by metric name.
type families map[string]*dto.MetricFamily

// scrapeFamilies fetches url in the protobuf format and decodes it.
func scrapeFamilies(ctx context.Context, c *http.Client, url string) (families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", protoAccept)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := make(families)
	for {
		mf := new(dto.MetricFamily)
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		out[mf.GetName()] = mf
	}
}

// sum adds the value of every series of a counter or gauge whose labels
// include match (name=value pairs).
func (f families) sum(name string, match ...string) float64 {
	var total float64
	for _, m := range f.series(name, match) {
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// count is the number of series of name.
func (f families) count(name string) int { return len(f.series(name, nil)) }

func (f families) series(name string, match []string) []*dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.Metric {
		if hasLabels(m, match) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == match[i] && l.GetValue() == match[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// hist is a histogram merged over series: the classic buckets
// (cumulative count by upper bound) and the native ones (count by index
// at one schema), whichever the source exposes.
type hist struct {
	count   uint64
	sum     float64
	classic map[float64]uint64
	schema  int32
	zero    uint64
	native  map[int]uint64
}

// histogram merges every series of name whose labels include match
// (name=value pairs). Native buckets of series at
// different schemas are not merged (client_golang keeps one schema per
// histogram unless it has to reduce it): the classic ones still are.
func (f families) histogram(name string, match ...string) hist {
	h := hist{classic: make(map[float64]uint64), native: make(map[int]uint64)}
	for i, m := range f.series(name, match) {
		mh := m.GetHistogram()
		if mh == nil {
			continue
		}
		h.count += mh.GetSampleCount()
		h.sum += mh.GetSampleSum()
		for _, b := range mh.Bucket {
			h.classic[b.GetUpperBound()] += b.GetCumulativeCount()
		}
		if len(mh.PositiveSpan) == 0 && mh.GetZeroCount() == 0 {
			continue
		}
		if i > 0 && len(h.native) > 0 && mh.GetSchema() != h.schema {
			h.native = nil // mixed schemas: no native quantile
			continue
		}
		if h.native == nil {
			continue
		}
		h.schema = mh.GetSchema()
		h.zero += mh.GetZeroCount()
		idx, n := int32(0), int64(0)
		k := 0
		for _, s := range mh.PositiveSpan {
			idx += s.GetOffset()
			for range s.GetLength() {
				n += mh.PositiveDelta[k]
				h.native[int(idx)] += uint64(n)
				idx++
				k++
			}
		}
	}
	return h
}

// since is the histogram of the observations between an earlier scrape
// and this one.
func (h hist) since(earlier hist) hist {
	d := hist{count: h.count - earlier.count, sum: h.sum - earlier.sum, schema: h.schema, zero: h.zero - earlier.zero,
		classic: make(map[float64]uint64), native: make(map[int]uint64)}
	for le, n := range h.classic {
		d.classic[le] = n - earlier.classic[le]
	}
	if h.native == nil || earlier.native == nil || (len(earlier.native) > 0 && earlier.schema != h.schema) {
		d.native = nil
		return d
	}
	for i, n := range h.native {
		d.native[i] = n - earlier.native[i]
	}
	return d
}

// quantile estimates the q-quantile (0..1) as Prometheus's
// histogram_quantile does for classic buckets: linear within the bucket
// the rank falls in, 0 as the lower edge of the first. Without classic
// buckets it reads the native ones, also linearly. NaN when empty.
func (h hist) quantile(q float64) float64 {
	if len(h.classic) > 0 {
		return classicQuantile(q, h.classic)
	}
	return nativeQuantile(q, h.schema, h.zero, h.native)
}

func classicQuantile(q float64, buckets map[float64]uint64) float64 {
	bounds := slices.Sorted(func(yield func(float64) bool) {
		for le := range buckets {
			if !yield(le) {
				return
			}
		}
	})
	total := buckets[bounds[len(bounds)-1]]
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, le := range bounds {
		n := buckets[le]
		if float64(n) >= rank {
			if math.IsInf(le, 1) {
				if i == 0 {
					return math.NaN()
				}
				return bounds[i-1]
			}
			return lower + (le-lower)*(rank-float64(below))/float64(n-below)
		}
		lower, below = le, n
	}
	return bounds[len(bounds)-1]
}

func nativeQuantile(q float64, schema int32, zero uint64, buckets map[int]uint64) float64 {
	total := zero
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	if float64(zero) >= rank {
		return 0
	}
	cum := float64(zero)
	base := math.Exp2(math.Exp2(-float64(schema)))
	for _, i := range slices.Sorted(func(yield func(int) bool) {
		for i := range buckets {
			if !yield(i) {
				return
			}
		}
	}) {
		n := float64(buckets[i])
		if cum+n >= rank && n > 0 {
			upper := math.Pow(base, float64(i))
			lower := upper / base
			return lower + (upper-lower)*(rank-cum)/n
		}
		cum += n
	}
	return math.NaN()
}
