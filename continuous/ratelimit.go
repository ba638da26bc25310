package continuous

import "time"

// tokenBucket paces the checks of the whole process at rate per second.
// A check may take its tokens while at least one is left, which can
// leave the bucket owing: a target with many addresses is never starved
// by a bucket smaller than its count, and the debt still holds the long
// run average to rate. It is used by the scheduler's goroutine alone.
type tokenBucket struct {
	rate   float64 // tokens per second; <= 0 means no limit
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64) tokenBucket {
	// 100 ms worth of checks: enough to catch up at once after a short
	// stall (a GC pause, a busy CPU) instead of deferring a second's
	// worth of checks, small enough that the limit holds over any
	// tenth of a second.
	burst := max(rate/10, 1)
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// take takes n tokens at now if it can; otherwise it returns how long
// until it can.
func (b *tokenBucket) take(now time.Time, n int) (wait time.Duration, ok bool) {
	if b.rate <= 0 {
		return 0, true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens -= float64(n)
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// force takes n tokens whatever is left: for checks that were already
// deferred once and must not wait twice.
func (b *tokenBucket) force(now time.Time, n int) {
	b.take(now, 0)
	if b.rate > 0 {
		b.tokens -= float64(n)
	}
}
