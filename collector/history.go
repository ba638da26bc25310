package collector

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// probeRecord is everything known about one finished probe: enough to
// render its metrics and its debug output again later.
type probeRecord struct {
	ID       uint64
	Start    time.Time
	Module   string
	Config   config.Module
	Target   string
	Timeout  time.Duration
	Duration time.Duration
	// Result is the check's result. With several checks, Summary sums
	// them up without their results (Summary.WithoutResults: bounded,
	// whatever their number), and Result is the one
	// whose details stand for them (see standIn): read the probe's
	// outcome through the methods of outcome.go, never from Result alone.
	Result  prober.Result
	Summary *prober.Summary
}

// history keeps the latest probes. Failures go to a ring of their own so
// that a stream of successes does not push them out: they stay until
// limit newer failures have happened.
type history struct {
	mu        sync.Mutex
	limit     int
	successes ring
	failures  ring
}

func newHistory(limit int) *history {
	return &history{limit: limit}
}

func (h *history) add(rec *probeRecord) {
	if h.limit <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if rec.Succeeded() {
		h.successes.add(rec, h.limit)
	} else {
		h.failures.add(rec, h.limit)
	}
}

// recent returns the kept probes, newest first.
func (h *history) recent() []*probeRecord {
	h.mu.Lock()
	all := append(h.successes.items(), h.failures.items()...)
	h.mu.Unlock()
	slices.SortFunc(all, func(a, b *probeRecord) int {
		return cmp.Compare(b.ID, a.ID)
	})
	return all
}

// get finds a kept probe by its ID.
func (h *history) get(id uint64) (*probeRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range []*ring{&h.successes, &h.failures} {
		if rec := r.find(id); rec != nil {
			return rec, true
		}
	}
	return nil, false
}

// ring is a fixed-size buffer of records that overwrites its oldest.
type ring struct {
	buf  []*probeRecord
	next int
}

func (r *ring) add(rec *probeRecord, limit int) {
	if len(r.buf) < limit {
		r.buf = append(r.buf, rec)
		return
	}
	r.buf[r.next] = rec
	r.next = (r.next + 1) % len(r.buf)
}

func (r *ring) items() []*probeRecord { return slices.Clone(r.buf) }

func (r *ring) find(id uint64) *probeRecord {
	for _, rec := range r.buf {
		if rec.ID == id {
			return rec
		}
	}
	return nil
}
