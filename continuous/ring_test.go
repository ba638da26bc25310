package continuous

import (
	"slices"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestRing(t *testing.T) {
	if got := ringSize(time.Second, 1); got != 300 {
		t.Errorf("ring at 1s: %d samples, want 300 (5 minutes)", got)
	}
	if got := ringSize(5*time.Second, 2); got != 120 {
		t.Errorf("ring at 5s with 2 addresses: %d, want 120", got)
	}
	if got := ringSize(time.Hour, 9); got != 40 {
		t.Errorf("ring at 1h with 9 addresses: %d, want 10 x 4", got)
	}
	r := ring{buf: make([]sample, 3)}
	for i := range 5 {
		r.add(newSample(prober.ClassOpen, time.Duration(i)*time.Millisecond))
	}
	synacks := func() []time.Duration {
		var out []time.Duration
		for _, s := range r.samples() {
			out = append(out, s.synack())
		}
		return out
	}
	if got, want := synacks(), []time.Duration{2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("samples %v, want the newest 3, oldest first: %v", got, want)
	}
	r.resize(5) // room for more: the 3 stay, in order
	r.add(newSample(prober.ClassTimeout, 0))
	if got := r.samples(); len(got) != 4 || got[3].class() != prober.ClassTimeout || got[0].synack() != 2*time.Millisecond {
		t.Errorf("after growing: %v", got)
	}
	r.resize(2) // the newest 2
	if got := r.samples(); len(got) != 2 || got[0].synack() != 4*time.Millisecond || got[1].class() != prober.ClassTimeout {
		t.Errorf("after shrinking: %v", got)
	}
	if s := newSample(prober.ClassOther, time.Hour); s.class() != prober.ClassOther || s.synack() != maxSampleMicros*time.Microsecond {
		t.Errorf("a saturated sample: class %v, %v", s.class(), s.synack())
	}
}
