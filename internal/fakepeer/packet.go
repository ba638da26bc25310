package fakepeer

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Flags are the TCP header flags.
type Flags uint8

// The TCP flags, in header bit order.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Has reports whether all of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// String writes flags as tcpdump does: "S", "S.", "R.", ".".
func (f Flags) String() string {
	var b strings.Builder
	for _, c := range []struct {
		flag Flags
		name byte
	}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {URG, 'U'}, {ECE, 'E'}, {CWR, 'W'}, {ACK, '.'}} {
		if f.Has(c.flag) {
			b.WriteByte(c.name)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// IP protocol numbers of the packets the peer logs.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoICMPv6 = 58
)

// Packet is one logged packet. Packets the prober sends are TCP; the
// peer's own answers are TCP or, for unreachable ports, ICMP.
type Packet struct {
	// Time is when the peer read the packet from the TUN device, or just
	// before it wrote it there; it carries a monotonic reading, so
	// differences between Times are exact.
	Time time.Time
	// FromPeer is true for the peer's answers.
	FromPeer bool
	// Due is, for an answer, when it should have left: the time its SYN
	// was read plus the delay. Time-Due is how late the peer was, which
	// a busy machine makes more than the Go timer's usual fraction of a
	// millisecond; compare a prober's latency with Time of the answer
	// minus Time of the SYN rather than with the configured delay.
	Due time.Time
	// Proto is the IP protocol: 6 (TCP), 1 (ICMP) or 58 (ICMPv6).
	Proto uint8
	// Src and Dst are the addresses and TCP ports.
	Src, Dst netip.AddrPort
	// The TCP header fields; zero for ICMP.
	Flags    Flags
	Seq, Ack uint32
	Window   uint16
	// Options are the TCP options this package knows (p.MSS is the MSS
	// option, 0 when absent).
	Options
	// PayloadLen is the number of TCP data bytes.
	PayloadLen int
}

// Options are the TCP options of a handshake that the peer reads from a
// SYN and writes into its SYN-ACK.
type Options struct {
	// MSS is the value of the MSS option, 0 when absent.
	MSS uint16
	// SACKPermitted is the SACK-permitted option.
	SACKPermitted bool
	// WindowScale is the shift of the window scale option, present when
	// ScaleWindow is true.
	ScaleWindow bool
	WindowScale uint8
	// Timestamps is the timestamp option, with its TSval and TSecr.
	Timestamps   bool
	TSval, TSecr uint32
}

// TCP option kinds (RFC 9293, RFC 2018, RFC 7323) and their lengths.
const (
	optEnd           = 0
	optNOP           = 1
	optMSS           = 2
	optWindowScale   = 3
	optSACKPermitted = 4
	optTimestamps    = 8
)

// IsSYN reports whether p opens a connection: SYN without ACK, as in a
// first SYN or its retransmission.
func (p Packet) IsSYN() bool {
	return p.Proto == protoTCP && p.Flags&(SYN|ACK|RST|FIN) == SYN
}

// IsRST reports whether p resets the connection, with or without ACK.
func (p Packet) IsRST() bool { return p.Proto == protoTCP && p.Flags.Has(RST) }

// IsBareACK reports whether p is an ACK and nothing else: the segment
// that completes a handshake, so the target sees a connection.
func (p Packet) IsBareACK() bool {
	return p.Proto == protoTCP && p.Flags&(SYN|ACK|RST|FIN) == ACK && p.PayloadLen == 0
}

// String formats p like a line of tcpdump.
func (p Packet) String() string {
	dir := "prober"
	if p.FromPeer {
		dir = "peer"
	}
	if p.Proto != protoTCP {
		return fmt.Sprintf("%s %s %v > %v ICMP unreachable", p.Time.Format("15:04:05.000000"), dir, p.Src.Addr(), p.Dst.Addr())
	}
	return fmt.Sprintf("%s %s %v > %v [%v] seq %d ack %d win %d mss %d len %d",
		p.Time.Format("15:04:05.000000"), dir, p.Src, p.Dst, p.Flags, p.Seq, p.Ack, p.Window, p.MSS, p.PayloadLen)
}

// parse decodes an IPv4 or IPv6 packet carrying TCP. ok is false for
// anything else (ICMPv6 router solicitations, fragments, garbage).
func parse(b []byte) (p Packet, ok bool) {
	if len(b) < 1 {
		return p, false
	}
	var payload []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		fragment := binary.BigEndian.Uint16(b[6:8]) & 0x3fff // MF and offset
		if ihl < 20 || total < ihl || total > len(b) || fragment != 0 {
			return p, false
		}
		p.Proto = b[9]
		src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		payload = b[ihl:total]
	case 6:
		if len(b) < 40 {
			return p, false
		}
		total := 40 + int(binary.BigEndian.Uint16(b[4:6]))
		if total > len(b) {
			return p, false
		}
		// The kernel puts no extension headers on its own TCP segments.
		p.Proto = b[6]
		src, dst := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		payload = b[40:total]
	default:
		return p, false
	}
	if p.Proto != protoTCP {
		return p, false
	}
	return parseTCP(p, payload)
}

func parseTCP(p Packet, b []byte) (Packet, bool) {
	if len(b) < 20 {
		return p, false
	}
	off := int(b[12]>>4) * 4
	if off < 20 || off > len(b) {
		return p, false
	}
	p.Src = netip.AddrPortFrom(p.Src.Addr(), binary.BigEndian.Uint16(b[0:2]))
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), binary.BigEndian.Uint16(b[2:4]))
	p.Seq = binary.BigEndian.Uint32(b[4:8])
	p.Ack = binary.BigEndian.Uint32(b[8:12])
	p.Flags = Flags(b[13])
	p.Window = binary.BigEndian.Uint16(b[14:16])
	p.Options = parseOptions(b[20:off])
	p.PayloadLen = len(b) - off
	return p, true
}

// parseOptions reads the options it knows from a TCP header's option
// bytes, and stops at the end option or at one it cannot walk past.
func parseOptions(opts []byte) Options {
	var o Options
	for len(opts) > 0 {
		switch opts[0] {
		case optEnd:
			return o
		case optNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return o
		}
		switch kind, v := opts[0], opts[2:opts[1]]; {
		case kind == optMSS && len(v) == 2:
			o.MSS = binary.BigEndian.Uint16(v)
		case kind == optWindowScale && len(v) == 1:
			o.ScaleWindow, o.WindowScale = true, v[0]
		case kind == optSACKPermitted && len(v) == 0:
			o.SACKPermitted = true
		case kind == optTimestamps && len(v) == 8:
			o.Timestamps = true
			o.TSval, o.TSecr = binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[4:8])
		}
		opts = opts[opts[1]:]
	}
	return o
}

// appendOptions appends o as TCP option bytes laid out as Linux lays out
// a SYN-ACK's, padded with no-ops to a multiple of 4 bytes.
func appendOptions(b []byte, o Options) []byte {
	if o.MSS != 0 {
		b = binary.BigEndian.AppendUint16(append(b, optMSS, 4), o.MSS)
	}
	switch {
	case o.Timestamps && o.SACKPermitted:
		b = append(b, optSACKPermitted, 2)
	case o.SACKPermitted:
		b = append(b, optNOP, optNOP, optSACKPermitted, 2)
	case o.Timestamps:
		b = append(b, optNOP, optNOP)
	}
	if o.Timestamps {
		b = binary.BigEndian.AppendUint32(append(b, optTimestamps, 10), o.TSval)
		b = binary.BigEndian.AppendUint32(b, o.TSecr)
	}
	if o.ScaleWindow {
		b = append(b, optNOP, optWindowScale, 3, o.WindowScale)
	}
	for len(b)%4 != 0 {
		b = append(b, optNOP)
	}
	return b
}

// buildTCP returns an IP packet from src to dst carrying a TCP header
// with the options opts and without payload.
func buildTCP(src, dst netip.AddrPort, flags Flags, seq, ack uint32, window uint16, opts Options) []byte {
	optBytes := appendOptions(nil, opts)
	tcpLen := 20 + len(optBytes)
	b, tcp := ipHeader(src.Addr(), dst.Addr(), protoTCP, tcpLen)
	binary.BigEndian.PutUint16(tcp[0:2], src.Port())
	binary.BigEndian.PutUint16(tcp[2:4], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	binary.BigEndian.PutUint32(tcp[8:12], ack)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = byte(flags)
	binary.BigEndian.PutUint16(tcp[14:16], window)
	copy(tcp[20:], optBytes)
	sum := pseudoHeaderSum(src.Addr(), dst.Addr(), protoTCP, tcpLen)
	binary.BigEndian.PutUint16(tcp[16:18], fold(sum, tcp))
	return b
}

// ICMP destination unreachable codes the peer can send. ICMPv4 code 13
// and ICMPv6 code 1 are the "administratively prohibited" of each family.
const (
	icmpUnreachable      = 3 // ICMPv4 type
	icmpHostUnreachable  = 1
	icmpAdminProhibited  = 13
	icmp6Unreachable     = 1 // ICMPv6 type
	icmp6AddrUnreachable = 3
	icmp6AdminProhibited = 1
)

// buildUnreachable returns an ICMP (or ICMPv6) destination unreachable
// with the given code, from src to the sender of orig, quoting orig. The
// kernel finds the socket from the quoted addresses, ports and sequence.
func buildUnreachable(src netip.Addr, orig []byte, origSrc netip.Addr, code uint8) []byte {
	// RFC 792 asks for the IP header and 8 bytes; quoting a whole SYN
	// is allowed (RFC 1812, RFC 4443) and stays far below the MTU.
	proto, typ := uint8(protoICMP), uint8(icmpUnreachable)
	if src.Is6() {
		proto, typ = protoICMPv6, icmp6Unreachable
	}
	b, msg := ipHeader(src, origSrc, proto, 8+len(orig))
	msg[0], msg[1] = typ, code
	copy(msg[8:], orig)
	var sum uint32
	if src.Is6() {
		sum = pseudoHeaderSum(src, origSrc, proto, len(msg))
	}
	binary.BigEndian.PutUint16(msg[2:4], fold(sum, msg))
	return b
}

// ipHeader returns a packet with an IPv4 or IPv6 header for a payload of
// n bytes, and the payload part of it to fill in.
func ipHeader(src, dst netip.Addr, proto uint8, n int) (packet, payload []byte) {
	if src.Is4() {
		b := make([]byte, 20+n)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		b[6] = 0x40 // don't fragment
		b[8] = 64   // TTL
		b[9] = proto
		s, d := src.As4(), dst.As4()
		copy(b[12:16], s[:])
		copy(b[16:20], d[:])
		binary.BigEndian.PutUint16(b[10:12], fold(0, b[:20]))
		return b, b[20:]
	}
	b := make([]byte, 40+n)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	b[6] = proto
	b[7] = 64 // hop limit
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return b, b[40:]
}

// pseudoHeaderSum is the unfolded sum of the pseudo-header that the TCP
// and ICMPv6 checksums cover (RFC 793, RFC 8200 section 8.1).
func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	sum := sum16(0, src.AsSlice())
	sum = sum16(sum, dst.AsSlice())
	return sum + uint32(proto) + uint32(length)
}

// sum16 adds b, as big-endian 16-bit words padded with a zero byte, to
// sum.
func sum16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold returns the Internet checksum (RFC 1071) of b, given the sum of
// anything else it covers. A checksum field inside b must be zero.
func fold(sum uint32, b []byte) uint16 {
	sum = sum16(sum, b)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
