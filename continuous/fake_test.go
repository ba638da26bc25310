package continuous

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// fakeChecker answers every check open, after hold (at once when zero),
// and records how many checks of each address were in flight at most.
// Its Addresses resolves literals only, as the prober would.
type fakeChecker struct {
	hold time.Duration
	// resends is each answer's SYNRetransmits: SYNs the kernel re-sent.
	resends uint32

	mu          sync.Mutex
	inFlight    map[netip.AddrPort]int
	maxInFlight int
	started     []time.Time
}

func newFakeChecker(hold time.Duration) *fakeChecker {
	return &fakeChecker{hold: hold, inFlight: map[netip.AddrPort]int{}}
}

func (f *fakeChecker) Addresses(_ context.Context, target string, _ prober.Options, _ prober.Plan) ([]netip.AddrPort, time.Duration, prober.Result) {
	addr, err := netip.ParseAddrPort(target)
	if err != nil {
		return nil, 0, prober.Result{Class: prober.ClassResolve, Err: err}
	}
	return []netip.AddrPort{addr}, 0, prober.Result{}
}

func (f *fakeChecker) BeginAddr(ctx context.Context, addr netip.AddrPort, _ prober.Options, done func(prober.Result)) (prober.Result, bool) {
	f.mu.Lock()
	f.inFlight[addr]++
	f.maxInFlight = max(f.maxInFlight, f.inFlight[addr])
	f.started = append(f.started, time.Now())
	f.mu.Unlock()
	end := func() prober.Result {
		f.mu.Lock()
		f.inFlight[addr]--
		f.mu.Unlock()
		return prober.Result{Class: prober.ClassOpen, Addr: addr, SYNACK: time.Millisecond, RTT: time.Millisecond, Mode: prober.ModeHalfOpen, SYNRetransmits: f.resends}
	}
	if f.hold == 0 {
		return end(), true
	}
	// The check outlives its slot: it ends after hold, whatever its
	// context says, as a check whose answer is on its way would.
	time.AfterFunc(f.hold, func() { done(end()) })
	return prober.Result{}, false
}

func (f *fakeChecker) stats() (maxInFlight, started int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInFlight, len(f.started)
}

// startedBetween counts the checks started in [from, to).
func (f *fakeChecker) startedBetween(from, to time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.started {
		if !s.Before(from) && s.Before(to) {
			n++
		}
	}
	return n
}
