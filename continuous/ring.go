package continuous

import (
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Samples a target keeps for the landing page: five minutes' worth, at
// most maxSamples and at least minSamples.
const (
	recentWindow = 5 * time.Minute
	maxSamples   = 300
	minSamples   = 10
)

// sample is one ended check, packed in 8 bytes: a ring of 300 costs a
// target 2.4 kB.
type sample struct {
	at uint32 // Unix seconds
	// packed holds the class in its low 8 bits and the SYN-ACK time in
	// microseconds above them, saturated at 2^24-1 (16.7 s).
	packed uint32
}

const maxSampleMicros = 1<<24 - 1

func newSample(at time.Time, class prober.Class, synack time.Duration) sample {
	us := min(synack.Microseconds(), maxSampleMicros)
	return sample{at: uint32(at.Unix()), packed: uint32(us)<<8 | uint32(class)}
}

func (s sample) class() prober.Class { return prober.Class(s.packed & 0xff) }

func (s sample) synack() time.Duration {
	return time.Duration(s.packed>>8) * time.Microsecond
}

// ring is a target's recent samples, oldest overwritten first.
type ring struct {
	buf  []sample
	next int // where the next sample goes
	full bool
}

func newRing(interval time.Duration) ring {
	n := min(max(int(recentWindow/interval), minSamples), maxSamples)
	return ring{buf: make([]sample, n)}
}

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// samples returns the samples in order, oldest first, in a new slice.
func (r *ring) samples() []sample {
	if !r.full {
		return append([]sample(nil), r.buf[:r.next]...)
	}
	return append(append([]sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
