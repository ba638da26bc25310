package continuous

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// requestResolve asks for t's addresses. An IP literal is resolved here
// and now: it needs no DNS, only the module's family and target lists.
// A name goes to the resolvers; if their queue is full, the scheduler
// asks again at t's next slot. Under mu.
func (r *Runner) requestResolve(t *target) {
	if t.resolving || r.closed {
		return
	}
	s := t.settings
	if t.literal {
		addrs, _, failure := r.opts.Checker.Addresses(context.Background(), t.name, s.opts, s.plan)
		r.applyResolution(t, addrs, failure, time.Now())
		return
	}
	select {
	case r.resolveQ <- t:
		t.resolving = true
	default:
	}
}

// needsResolve reports whether t's addresses are due to be looked up
// again. Under mu.
func (r *Runner) needsResolve(t *target, now time.Time) bool {
	return !t.resolving && (!t.resolved || !t.literal && now.Sub(t.resolvedAt) >= r.opts.ResolveInterval)
}

// resolveLoop is one of the resolvers: it looks names up, one at a time,
// until Close.
func (r *Runner) resolveLoop() {
	defer r.stopped.Done()
	for t := range r.resolveQ {
		r.mu.Lock()
		s, name := t.settings, t.name
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.ctx, time.Duration(s.module.Timeout))
		addrs, _, failure := r.opts.Checker.Addresses(ctx, name, s.opts, s.plan)
		cancel()
		r.mu.Lock()
		t.resolving = false
		if !r.closed && !t.removed && t.settings == s {
			r.applyResolution(t, addrs, failure, time.Now())
		}
		r.mu.Unlock()
	}
}

// applyResolution makes addrs t's addresses: known ones keep their
// series, new ones get one, missing ones are marked gone. With no
// address, failure says why, and t counts that class each interval
// until a lookup finds one. Under mu.
func (r *Runner) applyResolution(t *target, addrs []netip.AddrPort, failure prober.Result, now time.Time) {
	t.resolved, t.resolvedAt = true, now
	if len(addrs) == 0 {
		class := failure.Class
		if errors.Is(failure.Err, prober.ErrDenied) {
			class = prober.ClassProhibited
		}
		if !t.failed || t.failClass != class {
			level.Warn(r.logger).Log("msg", "Continuous target has no address to check", "module", t.key.module,
				"target", t.name, "class", class, "err", failure.Err)
		}
		t.failed, t.failClass = true, class
		addrs = nil
	} else {
		if t.failed {
			level.Info(r.logger).Log("msg", "Continuous target resolves again", "module", t.key.module, "target", t.name)
		}
		t.failed = false
	}
	for _, a := range t.addrs {
		if !slices.Contains(addrs, a.addr) {
			if a.gone.IsZero() {
				a.gone = now
			}
		} else {
			a.gone = time.Time{}
		}
	}
	for _, addr := range addrs {
		if !slices.ContainsFunc(t.addrs, func(a *address) bool { return a.addr == addr }) {
			t.addrs = append(t.addrs, r.newAddress(t, addr))
		}
	}
	t.mu.Lock()
	t.ring.resize(ringSize(t.settings.interval, len(addrs)))
	t.mu.Unlock()
}

func (r *Runner) newAddress(t *target, addr netip.AddrPort) *address {
	a := &address{t: t, addr: addr, s: newSeries(t.base, addr.Addr().String(), r.opts.Histogram, eagerClasses)}
	a.done = func(res prober.Result) { r.finish(a, res) }
	return a
}

// dropGone forgets the addresses gone for more than goneIntervals of
// t's interval; their series go with them. Under mu.
func (r *Runner) dropGone(t *target, now time.Time) {
	limit := goneIntervals * t.settings.interval
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addrs = slices.DeleteFunc(t.addrs, func(a *address) bool {
		return !a.gone.IsZero() && !a.inFlight && now.Sub(a.gone) > limit
	})
}
