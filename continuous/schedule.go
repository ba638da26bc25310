package continuous

import (
	"container/heap"
	"context"
	"syscall"
	"time"

	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// A check to start: the scheduler picks them under the lock and starts
// them after releasing it.
type start struct {
	a    *address
	slot time.Time
	s    *settings
}

// schedule is the scheduler's goroutine: it sleeps on one timer until
// the earliest target is due, starts the checks that are, and sleeps
// again. Checks that end (on the prober's loop) wake it when an
// address's slot passed while its previous check was still out.
func (r *Runner) schedule() {
	defer r.stopped.Done()
	defer close(r.startQ) // the starters end once they have drained it
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []start
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		now := time.Now()
		var next time.Time
		batch, next = r.collectDue(now, batch[:0])
		r.mu.Unlock()
		for i := range batch {
			r.startQ <- batch[i]
			batch[i] = start{}
		}
		if len(batch) > 0 {
			continue // starting took time: look at the clock again
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-r.wake:
		}
	}
}

// collectDue picks the checks due at now and moves their targets to
// their next slot. It returns when to look again: the next slot, or,
// when the rate limit holds the earliest target back, when the limit
// lets it go. Targets wait in the order of their slots, so none is
// starved. Under mu.
func (r *Runner) collectDue(now time.Time, batch []start) ([]start, time.Time) {
	if n := r.resent.Swap(0); n > 0 {
		r.bucket.force(now, int(n))
	}
	r.owedMu.Lock()
	owed := r.owed
	r.owed = r.owedSpare
	r.owedMu.Unlock()
	for _, a := range owed {
		t := a.t
		t.mu.Lock()
		if !t.removed && !a.inFlight && a.gone.IsZero() {
			r.bucket.force(now, 1)
			a.inFlight = true
			batch = append(batch, start{a: a, slot: a.owedSlot, s: t.settings})
		}
		t.mu.Unlock()
	}
	clear(owed)
	r.owedSpare = owed[:0]
	for len(r.due) > 0 && !r.due[0].slot.After(now) {
		t := r.due[0]
		if r.needsResolve(t, now) {
			r.requestResolve(t)
		}
		r.dropGone(t, now)
		switch {
		case !t.resolved:
			// Not looked up yet: no check, and nothing to count.
		case t.failed:
			r.countFailure(t)
		default:
			var ok bool
			var wait time.Duration
			if batch, wait, ok = r.startTarget(t, now, batch); !ok {
				return batch, now.Add(wait)
			}
		}
		r.advance(t, now)
	}
	if len(r.due) == 0 {
		return batch, time.Time{}
	}
	return batch, r.due[0].slot
}

// startTarget adds t's checks to batch, unless the rate limit holds
// them back: then it returns false and how long until they may start.
// Checks whose slot came while the limit held checks back are counted
// as deferred when they start. Under mu.
func (r *Runner) startTarget(t *target, now time.Time, batch []start) ([]start, time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, a := range t.addrs {
		if a.gone.IsZero() && !a.inFlight {
			n++
		}
	}
	if n > 0 {
		wait, ok := r.bucket.take(now, n)
		if !ok {
			r.lastRefusal = now
			return batch, wait, false
		}
		if !r.lastRefusal.IsZero() && !t.slot.After(r.lastRefusal) {
			r.metrics.deferred.Add(float64(n))
		}
	}
	for _, a := range t.addrs {
		switch {
		case !a.gone.IsZero():
		case a.inFlight:
			// Never two checks of one address at once: this one
			// starts when the previous one ends.
			if !a.owed {
				a.owed, a.owedSlot = true, t.slot
				r.metrics.deferred.Inc()
			}
		default:
			a.inFlight = true
			batch = append(batch, start{a: a, slot: t.slot, s: t.settings})
		}
	}
	return batch, 0, true
}

// advance moves t to its next slot. A target more than an interval
// behind (the process was stopped, or the rate limit holds it back for
// long) skips the slots it missed rather than making them up in a
// burst. Under mu.
func (r *Runner) advance(t *target, now time.Time) {
	s := t.settings
	t.slot = t.slot.Add(s.interval)
	if t.slot.Before(now) {
		t.slot = nextSlot(now, t.phase, s.interval)
	}
	r.due.fix(t)
}

// countFailure counts a slot of a target that has no address to check.
// Under mu.
func (r *Runner) countFailure(t *target) {
	if t.none == nil {
		t.none = newSeries(t.base, "", r.opts.Histogram, 0)
	}
	t.none.count(t.failClass)
	t.mu.Lock()
	t.record(t.failClass, 0)
	t.mu.Unlock()
}

// record keeps an ended check for the landing page. Under t.mu.
func (t *target) record(class prober.Class, synack time.Duration) {
	t.ring.add(newSample(class, synack))
	t.last, t.checked = class, true
}

// starter starts the checks the scheduler hands it. A few of them, one
// per CPU, share the work of socket() and connect(), which on a busy host
// is most of a check's cost (for a target on this host, connect() itself
// runs the whole handshake), so that one goroutine's share of the CPU
// does not bound the checks per second.
func (r *Runner) starter() {
	defer r.stopped.Done()
	for st := range r.startQ {
		r.start(st)
	}
}

// start starts one check in the prober. Its result comes to finish, on
// the prober's loop or here.
func (r *Runner) start(st start) {
	now := time.Now()
	r.metrics.startDelay.Observe(max(now.Sub(st.slot), 0).Seconds())
	ctx, cancel := context.WithTimeout(r.ctx, st.s.budget)
	st.a.cancel = cancel
	if res, ok := r.opts.Checker.BeginAddr(ctx, st.a.addr, st.s.opts, st.a.done); ok {
		st.a.done(res)
	}
}

// finish counts an ended check. It runs on the prober's loop and must
// not block: counters are atomics, and the target's own lock, which
// only ever guards a few assignments, is all it takes.
func (r *Runner) finish(a *address, res prober.Result) {
	a.cancel()
	if r.ctx.Err() != nil && res.Errno == syscall.ECANCELED {
		return // ended by Close: says nothing about the target
	}
	s := a.s
	s.count(res.Class)
	if res.Class == prober.ClassOpen {
		s.observe(res)
	}
	if res.SYNRetransmits > 0 {
		s.retransmits.Add(uint64(res.SYNRetransmits))
		r.resent.Add(int64(res.SYNRetransmits))
	}
	if res.ACKSent() && res.Mode == prober.ModeHalfOpen {
		r.metrics.ackLeaks.Add(float64(res.ACKs))
		// Rare, and worth a line: the target saw a connection.
		level.Warn(r.logger).Log("msg", "An ACK left before the RST: the target saw a completed connection",
			"module", a.t.key.module, "target", a.t.name, "addr", a.addr)
	}
	t := a.t
	t.mu.Lock()
	a.inFlight = false
	t.record(res.Class, responseTime(res))
	owed := a.owed && !t.removed
	a.owed = false
	t.mu.Unlock()
	if owed {
		r.owedMu.Lock()
		r.owed = append(r.owed, a)
		r.owedMu.Unlock()
		r.poke()
	}
}

// dueHeap orders targets by their next slot; one timer serves them
// all.
type dueHeap []*target

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].slot.Before(h[j].slot) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}

func (h *dueHeap) Push(x any) {
	t := x.(*target)
	t.heapIndex = len(*h)
	*h = append(*h, t)
}

func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIndex = -1
	return t
}

func (h *dueHeap) push(t *target)   { heap.Push(h, t) }
func (h *dueHeap) fix(t *target)    { heap.Fix(h, t.heapIndex) }
func (h *dueHeap) remove(t *target) { heap.Remove(h, t.heapIndex) }
