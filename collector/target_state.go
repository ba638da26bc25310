package collector

// Where each target stands, for the landing page: the outcome of its
// latest probe per module, since when that outcome has held, and how many
// of its recent probes succeeded. Built from the probe records as they
// finish, in a size bounded by maxTargetStates.

import (
	"cmp"
	"container/list"
	"math/bits"
	"slices"
	"sync"
	"time"
)

const (
	// recentProbes is how many of a target's latest probes its success
	// ratio covers.
	recentProbes = 20
	// maxTargetStates bounds the targets kept: /probe takes any target,
	// so the page forgets the one probed least recently beyond it.
	maxTargetStates = 1000
)

// targetKey names a target as probed with one module.
type targetKey struct{ Module, Target string }

// targetState is where one target stands with one module.
type targetState struct {
	targetKey
	// Since is the start of the first probe of the current run of equal
	// outcomes, as far back as this process has seen the target.
	Since time.Time
	// recent holds the outcomes of the latest probes, newest in bit 0;
	// n counts the valid bits, at most recentProbes.
	recent uint32
	n      int
	// Last is the latest probe.
	Last *probeRecord
	// used is the state's place in targetStates.lru.
	used *list.Element
}

// Up is the latest probe's probe_success.
func (s *targetState) Up() bool { return s.Last.Succeeded() }

// Succeeded counts the recent probes that succeeded; Probes is how many
// recent probes there are.
func (s *targetState) Succeeded() int { return bits.OnesCount32(s.recent) }

// Probes is how many probes the success ratio covers.
func (s *targetState) Probes() int { return s.n }

// targetStates keeps a targetState per module and target. It is safe for
// concurrent use.
type targetStates struct {
	mu    sync.Mutex
	limit int
	byKey map[targetKey]*targetState
	// lru orders the states by their latest probe, the newest in front:
	// the one at the back goes first, in constant time, however many
	// targets a busy exporter cycles through.
	lru list.List
}

// newTargetStates keeps at most limit targets; 0 keeps none.
func newTargetStates(limit int) *targetStates {
	return &targetStates{limit: limit, byKey: map[targetKey]*targetState{}}
}

// observe records a finished probe.
func (ts *targetStates) observe(rec *probeRecord) {
	if ts.limit <= 0 {
		return
	}
	key := targetKey{rec.Module, rec.Target}
	up := rec.Succeeded()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	s, ok := ts.byKey[key]
	switch {
	case !ok:
		ts.makeRoom()
		s = &targetState{targetKey: key, Since: rec.Start}
		s.used = ts.lru.PushFront(s)
		ts.byKey[key] = s
	case rec.Start.Before(s.Last.Start):
		// Probes of one target can finish out of order; the state is
		// the latest one started.
		return
	case s.Up() != up:
		s.Since = rec.Start
	}
	s.recent <<= 1
	if up {
		s.recent |= 1
	}
	s.recent &= 1<<recentProbes - 1
	s.n = min(s.n+1, recentProbes)
	s.Last = rec
	ts.lru.MoveToFront(s.used)
}

// makeRoom forgets the target probed least recently when the limit is
// reached.
func (ts *targetStates) makeRoom() {
	if len(ts.byKey) < ts.limit {
		return
	}
	oldest := ts.lru.Remove(ts.lru.Back()).(*targetState)
	delete(ts.byKey, oldest.targetKey)
}

// list returns copies of the states: failing targets first, then by
// module and target.
func (ts *targetStates) list() []targetState {
	ts.mu.Lock()
	all := make([]targetState, 0, len(ts.byKey))
	for _, s := range ts.byKey {
		all = append(all, *s)
	}
	ts.mu.Unlock()
	slices.SortFunc(all, func(a, b targetState) int {
		if a.Up() != b.Up() {
			if a.Up() {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Target, b.Target))
	})
	return all
}
