package continuous

import (
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// A target keeps its recent checks for the landing page: five minutes'
// worth at one address (at most maxSamples and at least minSamples),
// times its addresses up to maxRingAddresses.
const (
	recentWindow     = 5 * time.Minute
	maxSamples       = 300
	minSamples       = 10
	maxRingAddresses = 4
)

// sample is one ended check in 4 bytes (a ring of 300 costs a target
// 1.2 kB): the class in the low 3 bits, the SYN-ACK time in microseconds
// above them, saturated at 2^29-1 (537 s). It has no time of its own:
// the ring holds the last five minutes' worth of checks, one per slot.
type sample uint32

const (
	classBits       = 3
	maxSampleMicros = 1<<(32-classBits) - 1
)

func newSample(class prober.Class, synack time.Duration) sample {
	us := min(max(synack.Microseconds(), 0), maxSampleMicros)
	return sample(uint32(us)<<classBits | uint32(class)&(1<<classBits-1))
}

func (s sample) class() prober.Class { return prober.Class(s & (1<<classBits - 1)) }

func (s sample) synack() time.Duration {
	return time.Duration(s>>classBits) * time.Microsecond
}

// ring is a target's recent samples, oldest overwritten first.
type ring struct {
	buf  []sample
	next int // where the next sample goes
	full bool
}

// ringSize is how many samples five minutes of checks of addresses
// addresses every interval make, within the bounds above.
func ringSize(interval time.Duration, addresses int) int {
	n := min(max(int(recentWindow/interval), minSamples), maxSamples)
	return n * min(max(addresses, 1), maxRingAddresses)
}

func newRing(interval time.Duration) ring {
	return ring{buf: make([]sample, ringSize(interval, 1))}
}

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// resize makes room for n samples, keeping the newest.
func (r *ring) resize(n int) {
	if n == len(r.buf) {
		return
	}
	kept := r.samples()
	kept = kept[max(len(kept)-n, 0):]
	r.buf = append(make([]sample, 0, n), kept...)[:n]
	r.next, r.full = len(kept)%n, len(kept) == n
}

// samples returns the samples in order, oldest first, in a new slice.
func (r *ring) samples() []sample {
	if !r.full {
		return append([]sample(nil), r.buf[:r.next]...)
	}
	return append(append([]sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
