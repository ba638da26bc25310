package fakepeer

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

const (
	open        = 80
	closed      = 81
	unreach     = 82
	prohibit    = 83
	silent      = 84
	answerSlack = 5 * time.Millisecond // "within a few ms" on a loaded 2-core machine
)

func start(t *testing.T, cfg Config) (*netns.NS, *Peer) {
	t.Helper()
	ns := netns.New(t)
	cfg.OpenPorts = append(cfg.OpenPorts, open)
	cfg.ClosedPorts = append(cfg.ClosedPorts, closed)
	cfg.UnreachablePorts = append(cfg.UnreachablePorts, unreach)
	cfg.ProhibitedPorts = append(cfg.ProhibitedPorts, prohibit)
	p := Start(t, ns, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("transcript:\n%s", p.Transcript())
		}
	})
	return ns, p
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestDelay checks that the SYN-ACK comes the injected delay after the
// SYN, as the client measures it, as the peer logs it, and as the
// kernel's RTT sample says. Every sample must be at least the delay. The
// best of several must be within answerSlack of it, beyond how late a
// plain Go timer started with the connect was: on a machine busy with
// other work every timer in the process is late, the peer's as well.
func TestDelay(t *testing.T) {
	const samples = 5
	for _, delay := range []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			ns, p := start(t, Config{Delay: delay})
			for _, target := range []netip.Addr{p.Addr(), p.Addr6()} {
				best := map[string]time.Duration{"client": time.Hour, "peer": time.Hour, "tcpi_rtt": time.Hour}
				for range samples {
					measured, timerLate := sampleDelay(t, ns, p, netip.AddrPortFrom(target, open), delay)
					for what, d := range measured {
						if d < delay {
							t.Errorf("%v: %s saw the SYN-ACK after %v, before the delay %v", target, what, d, delay)
						}
						best[what] = min(best[what], d-delay-timerLate)
					}
				}
				for what, excess := range best {
					if excess > answerSlack {
						t.Errorf("%v: %s saw the SYN-ACK %v late at best, want at most %v", target, what, excess, answerSlack)
					}
				}
				t.Logf("%v: best lateness of %d, beyond a plain timer's: %v", target, samples, best)
			}
		})
	}
}

// sampleDelay makes one connect and returns the SYN to SYN-ACK time as
// the client, the peer and the kernel (tcpi_rtt) measured it, and how
// late a timer of the same delay, started with the connect, fired.
func sampleDelay(t *testing.T, ns *netns.NS, p *Peer, addr netip.AddrPort, delay time.Duration) (measured map[string]time.Duration, timerLate time.Duration) {
	t.Helper()
	timerStart := time.Now()
	timer := time.NewTimer(delay)
	c := dial(t, ns, addr)
	defer c.close()
	end, errno, ok := c.wait(t, time.Second+delay)
	if !ok || errno != 0 {
		t.Fatalf("%v: connect ended=%v errno=%v", addr, ok, errno)
	}
	fired := <-timer.C
	port := c.port(t)
	syn, err := p.WaitFor(waitCtx(t, time.Second), fromPort(port, Packet.IsSYN))
	if err != nil {
		t.Fatal(err)
	}
	var synack Packet
	for _, a := range p.Answers() {
		if a.Dst.Port() == port {
			synack = a
		}
	}
	if synack.Flags != SYN|ACK || synack.Ack != syn.Seq+1 || synack.MSS != DefaultMSS || !synack.Due.Equal(syn.Time.Add(delay)) {
		t.Fatalf("%v: answer %v to %v", addr, synack, syn)
	}
	return map[string]time.Duration{
		"client":   end.Sub(c.start),
		"peer":     synack.Time.Sub(syn.Time),
		"tcpi_rtt": time.Duration(c.tcpInfo(t).Rtt) * time.Microsecond,
	}, fired.Sub(timerStart) - delay
}

// TestCloseSendsRST checks the half-open sequence as the peer sees it:
// SYN, then RST, and no bare ACK even after the delayed-ACK timer would
// have fired.
func TestCloseSendsRST(t *testing.T) {
	ns, p := start(t, Config{})
	for _, target := range []netip.Addr{p.Addr(), p.Addr6()} {
		c := dial(t, ns, netip.AddrPortFrom(target, open))
		if _, errno, ok := c.wait(t, time.Second); !ok || errno != 0 {
			t.Fatalf("%v: connect ended=%v errno=%v", target, ok, errno)
		}
		port := c.port(t)
		c.close()
		rst, err := p.WaitFor(waitCtx(t, time.Second), fromPort(port, Packet.IsRST))
		if err != nil {
			t.Fatal(err)
		}
		// The delayed ACK is due 200ms after the SYN-ACK; give it 400ms.
		_, err = p.WaitFor(waitCtx(t, 400*time.Millisecond), fromPort(port, Packet.IsBareACK))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v: bare ACK after close: %v", target, err)
		}
		var flow []Packet
		for _, pkt := range p.Packets() {
			if pkt.Src.Port() == port {
				flow = append(flow, pkt)
			}
		}
		if len(flow) != 2 || !flow[0].IsSYN() || flow[1] != rst || rst.Seq != flow[0].Seq+1 {
			t.Errorf("%v: packets %v, want SYN then RST with seq SYN+1", target, flow)
		}
	}
}

// TestCanaryDelayedACK is the harness's proof that it can see the failure
// the prober must avoid: a socket left open after the SYN-ACK sends a bare
// ACK once the delayed-ACK timer (about 200ms) fires.
func TestCanaryDelayedACK(t *testing.T) {
	ns, p := start(t, Config{})
	for _, target := range []netip.Addr{p.Addr(), p.Addr6()} {
		c := dial(t, ns, netip.AddrPortFrom(target, open))
		if _, errno, ok := c.wait(t, time.Second); !ok || errno != 0 {
			t.Fatalf("%v: connect ended=%v errno=%v", target, ok, errno)
		}
		port := c.port(t)
		ack, err := p.WaitFor(waitCtx(t, 2*time.Second), fromPort(port, Packet.IsBareACK))
		if err != nil {
			t.Fatalf("%v: %v", target, err)
		}
		// The peer logs its RST just after the ACK it answers: wait for it.
		reset, err := waitAnswer(waitCtx(t, 2*time.Second), p, func(a Packet) bool {
			return a.Dst.Port() == port && a.Flags == RST
		})
		if err != nil {
			t.Fatalf("%v: no RST to the ACK %v: %v", target, ack, err)
		}
		var synack Packet
		for _, a := range p.Answers() {
			if a.Dst.Port() == port && a.Flags == SYN|ACK {
				synack = a
			}
		}
		gap := ack.Time.Sub(synack.Time)
		if gap < 150*time.Millisecond || gap > time.Second {
			t.Errorf("%v: bare ACK %v after the SYN-ACK, want about 200ms", target, gap)
		}
		if ack.Ack != synack.Seq+1 {
			t.Errorf("%v: ACK %v does not acknowledge SYN-ACK %v", target, ack, synack)
		}
		// The peer keeps no connection, so it resets the ACK's.
		if reset.Seq != ack.Ack || reset.Time.Before(ack.Time) {
			t.Errorf("%v: answer to ACK %v: %v, want an RST with seq %d", target, ack, reset, ack.Ack)
		}
		t.Logf("%v: delayed ACK %v after the SYN-ACK", target, gap)
	}
}

// waitAnswer returns the first packet the peer sent, already or from now
// on, for which match is true; it gives up when ctx ends.
func waitAnswer(ctx context.Context, p *Peer, match func(Packet) bool) (Packet, error) {
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		for _, a := range p.Answers() {
			if match(a) {
				return a, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Packet{}, ctx.Err()
		}
	}
}

// TestDroppedFirstSYN checks that the peer can ignore a SYN and answer its
// retransmission, which the kernel sends after its initial RTO of 1s.
func TestDroppedFirstSYN(t *testing.T) {
	ns, p := start(t, Config{
		Answer: func(synIndex int, _ Packet) (time.Duration, bool) { return 0, synIndex > 0 },
	})
	c := dial(t, ns, netip.AddrPortFrom(p.Addr(), open))
	if _, errno, ok := c.wait(t, 3*time.Second); !ok || errno != 0 {
		t.Fatalf("connect ended=%v errno=%v", ok, errno)
	}
	var syns []Packet
	for _, pkt := range p.Packets() {
		if pkt.IsSYN() {
			syns = append(syns, pkt)
		}
	}
	if len(syns) != 2 {
		t.Fatalf("%d SYNs, want 2", len(syns))
	}
	if gap := syns[1].Time.Sub(syns[0].Time); gap < 900*time.Millisecond || gap > 1500*time.Millisecond {
		t.Errorf("retransmission %v after the first SYN, want about 1s", gap)
	}
	if info := c.tcpInfo(t); info.Total_retrans != 1 {
		t.Errorf("tcpi_total_retrans = %d, want 1", info.Total_retrans)
	}
}

// TestErrors checks the answers that end a connect with an error, and the
// silence that leaves it pending. ICMP from the peer arrives after connect
// has returned, so unlike nft reject on lo, IPv6 gets the first one.
func TestErrors(t *testing.T) {
	ns, p := start(t, Config{})
	tests := []struct {
		port         uint16
		want4, want6 unix.Errno
		pending      bool
	}{
		{port: closed, want4: unix.ECONNREFUSED, want6: unix.ECONNREFUSED},
		{port: unreach, want4: unix.EHOSTUNREACH, want6: unix.EHOSTUNREACH},
		{port: prohibit, want4: unix.EHOSTUNREACH, want6: unix.EACCES},
		{port: silent, pending: true},
	}
	for _, tt := range tests {
		for _, target := range []struct {
			addr netip.Addr
			want unix.Errno
		}{{p.Addr(), tt.want4}, {p.Addr6(), tt.want6}} {
			addr := netip.AddrPortFrom(target.addr, tt.port)
			c := dial(t, ns, addr)
			wait := 500 * time.Millisecond // well before the 1s retransmission
			if tt.pending {
				wait = 300 * time.Millisecond
			}
			_, errno, ok := c.wait(t, wait)
			if ok == tt.pending || errno != target.want {
				t.Errorf("%v: ended=%v errno=%v, want ended=%v errno=%v", addr, ok, errno, !tt.pending, target.want)
			}
		}
	}
}

// TestConcurrentSYNs checks that each SYN gets its own timer: many
// connects at once are each answered after the delay.
func TestConcurrentSYNs(t *testing.T) {
	const n, delay = 20, 20 * time.Millisecond
	ns, p := start(t, Config{Delay: delay})
	var wg sync.WaitGroup
	for i := range n {
		addr := p.Addr()
		if i%2 == 1 {
			addr = p.Addr6()
		}
		c := dial(t, ns, netip.AddrPortFrom(addr, open))
		wg.Go(func() {
			end, errno, ok := c.wait(t, time.Second)
			if !ok || errno != 0 || end.Sub(c.start) < delay {
				t.Errorf("connect %d: ended=%v errno=%v after %v", i, ok, errno, end.Sub(c.start))
			}
		})
	}
	wg.Wait()
	if got := len(p.Answers()); got != n {
		t.Errorf("%d answers, want %d", got, n)
	}
}

// TestCloseCancelsAnswers checks that Close does not wait for, or send,
// answers still scheduled.
func TestCloseCancelsAnswers(t *testing.T) {
	ns := netns.New(t)
	p, err := New(ns, Config{OpenPorts: []uint16{open}, Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dial(t, ns, netip.AddrPortFrom(p.Addr(), open))
	if _, err := p.WaitFor(waitCtx(t, time.Second), Packet.IsSYN); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if a := p.Answers(); len(a) != 0 {
		t.Fatalf("answers after Close: %v", a)
	}
}

func TestReset(t *testing.T) {
	ns, p := start(t, Config{})
	first := dial(t, ns, netip.AddrPortFrom(p.Addr(), silent))
	firstPort := first.port(t)
	if _, err := p.WaitFor(waitCtx(t, time.Second), fromPort(firstPort, Packet.IsSYN)); err != nil {
		t.Fatal(err)
	}
	// A WaitFor running across a Reset goes on with what comes after it.
	found := make(chan error, 1)
	ctx := waitCtx(t, 2*time.Second)
	go func() {
		_, err := p.WaitFor(ctx, func(pkt Packet) bool { return pkt.IsSYN() && pkt.Src.Port() != firstPort })
		found <- err
	}()
	p.Reset()
	if got := p.Packets(); len(got) != 0 {
		t.Fatalf("packets after Reset: %v", got)
	}
	dial(t, ns, netip.AddrPortFrom(p.Addr(), silent))
	if err := <-found; err != nil {
		t.Fatal(err)
	}
}
