package fakepeer

import (
	"net/netip"
	"sync"
	"time"
)

// AnswerFunc is the type of Config.Answer.
type AnswerFunc = func(synIndex int, p Packet) (delay time.Duration, answer bool)

// firstSYNs numbers the first SYNs of connections from 0, telling a
// retransmission (the same source and sequence number) from a new SYN.
type firstSYNs struct {
	mu   sync.Mutex
	seen map[synKey]int
}

type synKey struct {
	src netip.AddrPort
	seq uint32
}

// index returns the number of p's connection among first SYNs, and
// whether p is a retransmission.
func (f *firstSYNs) index(p Packet) (n int, again bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = make(map[synKey]int)
	}
	k := synKey{p.Src, p.Seq}
	if n, ok := f.seen[k]; ok {
		return n, true
	}
	n = len(f.seen)
	f.seen[k] = n
	return n, false
}

// DropFirstSYNs returns a Config.Answer that ignores the first SYN of
// the first drop connections of every every (3 of every 10, say),
// counted in the order the peer reads them, and answers every other SYN,
// retransmissions of the dropped ones included, after delay. Over any
// every consecutive connections exactly drop lose their first SYN.
func DropFirstSYNs(drop, every int, delay time.Duration) AnswerFunc {
	var f firstSYNs
	return func(_ int, p Packet) (time.Duration, bool) {
		n, again := f.index(p)
		return delay, again || n%every >= drop
	}
}

// Delays returns a Config.Answer that answers the first SYN of the n-th
// connection after delays[n % len(delays)], and a retransmission after
// the delay of its connection.
func Delays(delays ...time.Duration) AnswerFunc {
	var f firstSYNs
	return func(_ int, p Packet) (time.Duration, bool) {
		n, _ := f.index(p)
		return delays[n%len(delays)], true
	}
}

// SentTCP returns the TCP segments the prober sent, leaving out the
// kernel's own ICMPv6 neighbour discovery.
func (p *Peer) SentTCP() []Packet {
	return p.filter(func(pkt Packet) bool { return !pkt.FromPeer && pkt.Proto == protoTCP })
}
