package continuous

import (
	"context"
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// nsChecker makes its checks' sockets inside a test's namespace, where
// the fake peer is; the scheduler's goroutine is outside it. It keeps
// every result for the test to compare with what the peer did.
type nsChecker struct {
	*prober.Checker
	ns *netns.NS

	mu      sync.Mutex
	results []prober.Result
}

func (c *nsChecker) BeginAddr(ctx context.Context, addr netip.AddrPort, opts prober.Options, done func(prober.Result)) (r prober.Result, ok bool) {
	keep := func(r prober.Result) {
		c.mu.Lock()
		c.results = append(c.results, r)
		c.mu.Unlock()
	}
	c.ns.Do(func() error {
		r, ok = c.Checker.BeginAddr(ctx, addr, opts, func(r prober.Result) { keep(r); done(r) })
		return nil
	})
	if ok {
		keep(r)
	}
	return r, ok
}

func (c *nsChecker) open() []prober.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(c.results), func(r prober.Result) bool { return !r.Success() })
}

func TestLossMatchesDroppedSYNs(t *testing.T) {
	ns := netns.New(t)
	// 3 of every 10 first SYNs dropped; the 80ms budget ends each of
	// those checks long before the kernel's 1s SYN retransmission, and
	// leaves a busy machine's peer ample time to answer the others.
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}, Answer: fakepeer.DropFirstSYNs(3, 10, 0)})
	target := netip.AddrPortFrom(peer.Addr(), 80).String()
	r, reg := newRunner(t, Options{Checker: &nsChecker{Checker: newChecker(t, nil), ns: ns}})
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "80ms", target))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "60 ended checks", func() bool {
		return checks(t, reg, target, "open")+checks(t, reg, target, "timeout") >= 60
	})
	open, timeout := checks(t, reg, target, "open"), checks(t, reg, target, "timeout")
	ended := open + timeout
	// Over any 10 consecutive checks exactly 3 lose their SYN: the share
	// is off only by the last, incomplete run of 10.
	if diff := math.Abs(timeout - 0.3*ended); diff > 3 {
		t.Errorf("%g timeouts of %g ended checks, want 30%% (%g) within 3", timeout, ended, 0.3*ended)
	}
	for _, p := range peer.SentTCP() {
		if p.IsBareACK() {
			t.Fatalf("the prober sent a bare ACK: %v", p)
		}
	}
}

func TestResponseClockAgainstPeer(t *testing.T) {
	// The truth is the time from the peer reading each SYN to it writing
	// the SYN-ACK, as the peer itself recorded; a busy machine makes that
	// differ from the delay it was asked for.
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}, Delay: 5 * time.Millisecond})
	target := netip.AddrPortFrom(peer.Addr(), 80).String()
	checker := &nsChecker{Checker: newChecker(t, nil), ns: ns}
	r, reg := newRunner(t, Options{Checker: checker})
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "20ms", target))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "100 open checks", func() bool { return len(checker.open()) >= 100 })
	r.Close() // no more checks: results and packets line up
	results := checker.open()
	var syns, answers []fakepeer.Packet
	for _, p := range peer.Answers() {
		if p.Flags.Has(fakepeer.SYN | fakepeer.ACK) {
			answers = append(answers, p)
		}
	}
	for _, p := range peer.SentTCP() {
		if p.IsSYN() {
			syns = append(syns, p)
		}
	}
	// One target: checks, SYNs and answers come one after another.
	n := min(len(results), len(syns), len(answers))
	var kernel, user []float64
	for i := range n {
		if answers[i].Ack != syns[i].Seq+1 {
			t.Fatalf("answer %d acknowledges %d, SYN %d has sequence %d", i, answers[i].Ack, i, syns[i].Seq)
		}
		truth := answers[i].Time.Sub(syns[i].Time)
		kernel = append(kernel, math.Abs((results[i].RTT - truth).Seconds()))
		user = append(user, math.Abs((results[i].SYNACK - truth).Seconds()))
	}
	slices.Sort(kernel)
	slices.Sort(user)
	k50, u50 := kernel[n/2], user[n/2]
	k99, u99 := kernel[n*99/100], user[n*99/100]
	t.Logf("error against the peer's own record, %d checks: tcpi_rtt median %.0fµs p99 %.0fµs; user space median %.0fµs p99 %.0fµs",
		n, k50*1e6, k99*1e6, u50*1e6, u99*1e6)
	// The peer stamps a SYN when its goroutine has read it, so part of
	// the gap is the peer's own wake-up; 1ms bounds it on a busy machine.
	if k50 > 0.001 {
		t.Errorf("tcpi_rtt is %.0fµs off at the median, want under 1ms", k50*1e6)
	}
	if k50 > u50 {
		t.Errorf("tcpi_rtt (median error %.0fµs) is further from the truth than user space (%.0fµs): the histogram uses the wrong clock", k50*1e6, u50*1e6)
	}
	// The histogram holds the kernel's figure: its sum is theirs.
	var kernelSum float64
	for _, res := range checker.open() {
		kernelSum += res.RTT.Seconds()
	}
	var sum float64
	for _, m := range gather(t, reg)[durationName].GetMetric() {
		sum += m.GetHistogram().GetSampleSum()
	}
	if math.Abs(sum-kernelSum) > 1e-6*float64(len(results)) {
		t.Errorf("histogram sum %.6fs, the checks' tcpi_rtt add up to %.6fs", sum, kernelSum)
	}
}
