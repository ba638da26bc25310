package fakepeer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// Default addresses: the prober's side of the TUN device, in the
// benchmarking range that exists only inside the test's namespace. The
// peer answers for every other address of these prefixes.
var (
	DefaultLocal4 = netip.MustParsePrefix("198.18.0.1/24")
	DefaultLocal6 = netip.MustParsePrefix("fd00:198:18::1/64")
)

// DefaultMSS is the MSS the SYN-ACK announces unless Config.MSS says
// otherwise.
const DefaultMSS = 1460

// window is the receive window of the peer's segments.
const window = 65535

// Config says how the peer answers. A SYN to a port in none of the lists
// is logged and dropped, so the prober times out.
type Config struct {
	// OpenPorts answer a SYN with a SYN-ACK.
	OpenPorts []uint16
	// ClosedPorts answer a SYN with an RST (the prober sees "refused").
	ClosedPorts []uint16
	// UnreachablePorts answer a SYN with ICMP host unreachable or ICMPv6
	// address unreachable (EHOSTUNREACH). Unlike nft reject on the
	// prober's own lo, the error arrives after connect has returned, so
	// IPv6 sees the first one too.
	UnreachablePorts []uint16
	// ProhibitedPorts answer a SYN with ICMP or ICMPv6 administratively
	// prohibited: EHOSTUNREACH for IPv4, EACCES for IPv6.
	ProhibitedPorts []uint16
	// Delay is the time from reading a SYN to writing its answer.
	Delay time.Duration
	// Answer, when set, decides for each SYN to a port that answers:
	// after what delay, and whether at all. synIndex counts the SYNs the
	// peer has read, retransmissions included, from 0, over all ports; a
	// test that drops the first SYN answers the retransmission this way.
	// It runs on the peer's reading goroutine and must not block.
	Answer func(synIndex int, p Packet) (delay time.Duration, answer bool)
	// MSS is announced in the SYN-ACK; 0 means DefaultMSS.
	MSS uint16
	// The rest of the SYN-ACK: its window (0 means 65535); NoMSS leaves
	// the MSS option out. SACK, Timestamps, ScaleWindow (with the shift
	// WindowScale) and ECN agree to each, but only when the SYN offered
	// it, as a real peer does; the timestamp option echoes the SYN's
	// TSval.
	Window      uint16
	NoMSS       bool
	SACK        bool
	Timestamps  bool
	ScaleWindow bool
	WindowScale uint8
	ECN         bool
	// Local4 and Local6 are the prober's addresses on the TUN device, and
	// their prefixes are routed through it; zero means DefaultLocal4 and
	// DefaultLocal6. Two peers in one namespace need different ones.
	Local4, Local6 netip.Prefix
}

// reply is what the peer does with a SYN.
type reply int

const (
	drop reply = iota
	synAck
	reset
	unreachable
	prohibited
)

func (c Config) reply(port uint16) reply {
	switch {
	case slices.Contains(c.OpenPorts, port):
		return synAck
	case slices.Contains(c.ClosedPorts, port):
		return reset
	case slices.Contains(c.UnreachablePorts, port):
		return unreachable
	case slices.Contains(c.ProhibitedPorts, port):
		return prohibited
	}
	return drop
}

// Peer is a fake TCP peer. Its methods are safe for concurrent use.
type Peer struct {
	cfg    Config
	dev    string
	tun    *os.File
	local4 netip.Prefix
	local6 netip.Prefix // invalid when the kernel has no IPv6
	done   chan struct{}

	mu      sync.Mutex
	log     []Packet
	dropped int           // entries Reset removed from the front of log
	changed chan struct{} // closed, and replaced, when log grows
	syns    int
	timers  map[*time.Timer]struct{}
	closed  bool
	err     error // the first failure of the peer itself

	// pending counts answers scheduled and not yet written or stopped,
	// so Close can wait for them.
	pending sync.WaitGroup
}

// Start starts a peer in ns for t and stops it when t ends. It skips t
// (fails it under CI=true) when TUN devices are unavailable.
func Start(t testing.TB, ns *netns.NS, cfg Config) *Peer {
	t.Helper()
	testenv.RequireTUN(t)
	p, err := New(ns, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("fakepeer: %v", err)
		}
	})
	return p
}

// New creates a TUN device in ns, gives it the local addresses of cfg,
// and starts answering. Close stops it and removes the device.
func New(ns *netns.NS, cfg Config) (*Peer, error) {
	p := &Peer{
		cfg:     cfg,
		local4:  cmp(cfg.Local4, DefaultLocal4),
		local6:  cmp(cfg.Local6, DefaultLocal6),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		timers:  make(map[*time.Timer]struct{}),
	}
	if p.cfg.MSS == 0 {
		p.cfg.MSS = DefaultMSS
	}
	if !ipv6Enabled() {
		p.local6 = netip.Prefix{}
	}
	tun, dev, err := openTUN(ns)
	if err != nil {
		return nil, fmt.Errorf("fakepeer: %w", err)
	}
	p.tun, p.dev = tun, dev
	if err := p.configure(ns); err != nil {
		return nil, errors.Join(fmt.Errorf("fakepeer: %w", err), tun.Close())
	}
	go p.read()
	return p, nil
}

func cmp(p, def netip.Prefix) netip.Prefix {
	if p.IsValid() {
		return p
	}
	return def
}

// ipv6Enabled is false on kernels booted with ipv6.disable=1.
func ipv6Enabled() bool {
	_, err := os.Stat("/proc/sys/net/ipv6")
	return err == nil
}

// openTUN creates a TUN device inside ns: the device lands in the
// namespace of the thread that opens /dev/net/tun.
func openTUN(ns *netns.NS) (*os.File, string, error) {
	var fd int
	var dev string
	err := ns.Do(func() error {
		var err error
		// Non-blocking, so os.NewFile hands the fd to the runtime's
		// poller and Close interrupts a pending Read.
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return os.NewSyscallError("open /dev/net/tun", err)
		}
		ifr, err := unix.NewIfreq("synpeer%d")
		if err == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			unix.Close(fd)
			return os.NewSyscallError("ioctl TUNSETIFF", err)
		}
		dev = ifr.Name()
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun "+dev), dev, nil
}

// configure brings the device up with the local addresses; the kernel
// then routes each prefix through the device.
func (p *Peer) configure(ns *netns.NS) error {
	if err := ns.LinkUp(p.dev); err != nil {
		return err
	}
	if err := ns.AddAddr(p.dev, p.local4.String()); err != nil {
		return err
	}
	if p.local6.IsValid() {
		return ns.AddAddr(p.dev, p.local6.String())
	}
	return nil
}

// Device returns the name of the TUN device, for tcpdump -i.
func (p *Peer) Device() string { return p.dev }

// Addr returns the peer's IPv4 address: the one after the local address.
func (p *Peer) Addr() netip.Addr { return p.local4.Addr().Next() }

// Addr6 returns the peer's IPv6 address, or the zero Addr when the
// kernel has no IPv6.
func (p *Peer) Addr6() netip.Addr {
	if !p.local6.IsValid() {
		return netip.Addr{}
	}
	return p.local6.Addr().Next()
}

// Local returns the prober's IPv4 address on the device.
func (p *Peer) Local() netip.Addr { return p.local4.Addr() }

// Local6 returns the prober's IPv6 address on the device, or the zero
// Addr when the kernel has no IPv6.
func (p *Peer) Local6() netip.Addr { return p.local6.Addr() }

// Close stops answering, cancels answers not yet sent and removes the
// device. It returns the first error the peer met while running.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for t := range p.timers {
		if t.Stop() {
			p.pending.Done()
		}
	}
	clear(p.timers)
	p.mu.Unlock()

	err := p.tun.Close()
	<-p.done
	p.pending.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := errors.Join(p.err, err); err != nil {
		return fmt.Errorf("fakepeer %s: %w", p.dev, err)
	}
	return nil
}

// read logs and answers packets until the device is closed.
func (p *Peer) read() {
	defer close(p.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := p.tun.Read(buf)
		now := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				p.fail(fmt.Errorf("reading %s: %w", p.dev, err))
			}
			return
		}
		pkt, ok := parse(buf[:n])
		if !ok {
			continue // the kernel's own IPv6 chatter
		}
		pkt.Time = now
		p.record(pkt)
		switch {
		case pkt.IsSYN():
			p.answer(pkt, buf[:n])
		case !pkt.IsRST():
			p.resetStray(pkt)
		}
	}
}

// resetStray answers a segment that opens nothing, such as the ACK that
// would complete a handshake, with an RST, as RFC 9293 (3.10.7.1) has a
// host do for a connection it does not have: the peer keeps none.
func (p *Peer) resetStray(pkt Packet) {
	rec := Packet{FromPeer: true, Proto: protoTCP, Src: pkt.Dst, Dst: pkt.Src, Flags: RST, Seq: pkt.Ack}
	p.send(buildTCP(rec.Src, rec.Dst, rec.Flags, rec.Seq, 0, 0, Options{}), rec)
}

func (p *Peer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *Peer) record(pkt Packet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.appendLocked(pkt)
}

func (p *Peer) appendLocked(pkt Packet) {
	p.log = append(p.log, pkt)
	close(p.changed)
	p.changed = make(chan struct{})
}

// answer schedules the answer to syn, whose raw bytes are raw.
func (p *Peer) answer(syn Packet, raw []byte) {
	r := p.cfg.reply(syn.Dst.Port())
	p.mu.Lock()
	index := p.syns
	p.syns++
	p.mu.Unlock()
	if r == drop {
		return
	}
	delay, ok := p.cfg.Delay, true
	if p.cfg.Answer != nil {
		delay, ok = p.cfg.Answer(index, syn)
	}
	if !ok {
		return
	}
	out, rec := p.build(r, syn, raw)
	// Count from the read, not from now: the delay is the peer's
	// latency, and parsing and logging are part of it.
	rec.Due = syn.Time.Add(delay)
	wait := time.Until(rec.Due)
	if wait <= 0 {
		p.send(out, rec)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.pending.Add(1)
	var t *time.Timer
	// The callback takes mu first, so it sees t assigned.
	t = time.AfterFunc(wait, func() {
		defer p.pending.Done()
		p.mu.Lock()
		delete(p.timers, t)
		p.mu.Unlock()
		p.send(out, rec)
	})
	p.timers[t] = struct{}{}
}

// build returns the answer r to syn as bytes to write and as a log entry.
func (p *Peer) build(r reply, syn Packet, raw []byte) ([]byte, Packet) {
	rec := Packet{FromPeer: true, Proto: protoTCP, Src: syn.Dst, Dst: syn.Src, Window: window}
	switch r {
	case synAck:
		rec.Flags, rec.Seq, rec.Ack = SYN|ACK, rand.Uint32(), syn.Seq+1
		rec.Window, rec.Options = p.cfg.synAckOptions(syn)
		if p.cfg.ECN && syn.Flags.Has(ECE|CWR) {
			rec.Flags |= ECE // RFC 3168 6.1.1
		}
	case reset:
		// A closed port's answer to a SYN (RFC 9293 3.10.7.1): RST|ACK
		// acknowledging the SYN, sequence number 0.
		rec.Flags, rec.Ack, rec.Window = RST|ACK, syn.Seq+1, 0
	default:
		code := uint8(icmpHostUnreachable)
		rec.Proto = protoICMP
		if syn.Src.Addr().Is6() {
			code, rec.Proto = icmp6AddrUnreachable, protoICMPv6
		}
		if r == prohibited {
			code = icmpAdminProhibited
			if syn.Src.Addr().Is6() {
				code = icmp6AdminProhibited
			}
		}
		rec = Packet{FromPeer: true, Proto: rec.Proto, Src: syn.Dst, Dst: syn.Src}
		return buildUnreachable(syn.Dst.Addr(), slices.Clone(raw), syn.Src.Addr(), code), rec
	}
	return buildTCP(rec.Src, rec.Dst, rec.Flags, rec.Seq, rec.Ack, rec.Window, rec.Options), rec
}

// synAckOptions returns the window and the options of the SYN-ACK to syn.
func (c Config) synAckOptions(syn Packet) (uint16, Options) {
	w := c.Window
	if w == 0 {
		w = window
	}
	var o Options
	if !c.NoMSS {
		o.MSS = c.MSS
	}
	o.SACKPermitted = c.SACK && syn.SACKPermitted
	if c.Timestamps && syn.Timestamps {
		o.Timestamps, o.TSval, o.TSecr = true, rand.Uint32(), syn.TSval
	}
	if c.ScaleWindow && syn.ScaleWindow {
		o.ScaleWindow, o.WindowScale = true, c.WindowScale
	}
	return w, o
}

// send logs and writes one packet. os.File serialises concurrent writes,
// and a TUN write is one whole packet.
func (p *Peer) send(b []byte, rec Packet) {
	// Log first: the kernel may handle the packet, and wake the prober,
	// before Write returns.
	p.mu.Lock()
	rec.Time = time.Now()
	p.appendLocked(rec)
	p.mu.Unlock()
	if _, err := p.tun.Write(b); err != nil && !errors.Is(err, os.ErrClosed) {
		p.fail(fmt.Errorf("writing %s: %w", p.dev, err))
	}
}

// Repeat sends again a TCP answer the peer sent (one of Answers), as a
// peer whose retransmission timer ran first re-sends its SYN-ACK.
func (p *Peer) Repeat(answer Packet) {
	if answer.Proto != protoTCP || !answer.FromPeer {
		return
	}
	b := buildTCP(answer.Src, answer.Dst, answer.Flags, answer.Seq, answer.Ack, answer.Window, answer.Options)
	answer.Due = time.Time{}
	p.send(b, answer)
}

// Packets returns the packets the prober sent, in the order read.
func (p *Peer) Packets() []Packet {
	return p.filter(func(pkt Packet) bool { return !pkt.FromPeer })
}

// Answers returns the packets the peer sent, in the order written.
func (p *Peer) Answers() []Packet {
	return p.filter(func(pkt Packet) bool { return pkt.FromPeer })
}

func (p *Peer) filter(keep func(Packet) bool) []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Packet
	for _, pkt := range p.log {
		if keep(pkt) {
			out = append(out, pkt)
		}
	}
	return out
}

// WaitFor returns the first packet the prober sent, already or from now
// on, for which match is true. It gives up when ctx ends.
func (p *Peer) WaitFor(ctx context.Context, match func(Packet) bool) (Packet, error) {
	next := 0 // counting entries Reset dropped
	for {
		p.mu.Lock()
		next = max(next, p.dropped)
		// Entries never change once logged, so the new ones can be read
		// after unlocking, and match may call p.
		fresh, changed := p.log[next-p.dropped:], p.changed
		p.mu.Unlock()
		for _, pkt := range fresh {
			if !pkt.FromPeer && match(pkt) {
				return pkt, nil
			}
		}
		next += len(fresh)
		select {
		case <-changed:
		case <-ctx.Done():
			return Packet{}, fmt.Errorf("fakepeer: no such packet among %d logged: %w", next, ctx.Err())
		}
	}
}

// Reset empties the log, so a long run such as a benchmark does not keep
// every packet. The SYN count that Config.Answer sees goes on.
func (p *Peer) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped += len(p.log)
	p.log = nil
}

// Transcript returns the log, both directions, one packet a line, for a
// test to print when it fails.
func (p *Peer) Transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, pkt := range p.log {
		b.WriteString(pkt.String())
		b.WriteByte('\n')
	}
	return b.String()
}
