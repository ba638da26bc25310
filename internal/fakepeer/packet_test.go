package fakepeer

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestBuildParseTCP(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		flags    Flags
		mss      uint16
	}{
		{"IPv4 SYN-ACK", "198.18.0.2:80", "198.18.0.1:40000", SYN | ACK, 1460},
		{"IPv4 RST", "198.18.0.2:81", "198.18.0.1:40001", RST | ACK, 0},
		{"IPv6 SYN-ACK", "[fd00:198:18::2]:80", "[fd00:198:18::1]:40000", SYN | ACK, 1440},
		{"IPv6 RST", "[fd00:198:18::2]:81", "[fd00:198:18::1]:40001", RST | ACK, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
			b := buildTCP(src, dst, tt.flags, 7, 8, 9, Options{MSS: tt.mss})
			p, ok := parse(b)
			if !ok {
				t.Fatalf("parse(%x) failed", b)
			}
			want := Packet{Proto: protoTCP, Src: src, Dst: dst, Flags: tt.flags, Seq: 7, Ack: 8, Window: 9, Options: Options{MSS: tt.mss}}
			if p != want {
				t.Fatalf("parsed %+v, want %+v", p, want)
			}
			verifyChecksums(t, b)
		})
	}
}

func TestOptionsRoundTrip(t *testing.T) {
	src, dst := netip.MustParseAddrPort("198.18.0.2:80"), netip.MustParseAddrPort("198.18.0.1:40000")
	for _, o := range []Options{
		{},
		{MSS: 536},
		{MSS: 1000, SACKPermitted: true, Timestamps: true, TSval: 0xdeadbeef, TSecr: 7, ScaleWindow: true, WindowScale: 7},
		{SACKPermitted: true},
		{Timestamps: true, TSval: 1, TSecr: 2},
		{MSS: 1460, ScaleWindow: true},
	} {
		b := buildTCP(src, dst, SYN|ACK, 1, 2, 3, o)
		p, ok := parse(b)
		if !ok || p.Options != o {
			t.Errorf("options %+v came back as %+v (ok %v) from %x", o, p.Options, ok, b)
		}
		if hdr := int(b[20+12]>>4) * 4; hdr%4 != 0 || hdr != len(b)-20 {
			t.Errorf("options %+v: header length %d in a %d-byte segment", o, hdr, len(b)-20)
		}
		verifyChecksums(t, b)
	}
}

func TestBuildUnreachable(t *testing.T) {
	for _, tt := range []struct{ src, dst string }{
		{"198.18.0.1:40000", "198.18.0.2:82"},
		{"[fd00:198:18::1]:40000", "[fd00:198:18::2]:82"},
	} {
		src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
		syn := buildTCP(src, dst, SYN, 1, 0, 64240, Options{MSS: 1460})
		b := buildUnreachable(dst.Addr(), syn, src.Addr(), 3)
		hdr := 20
		if src.Addr().Is6() {
			hdr = 40
		}
		if got := b[hdr+8:]; string(got) != string(syn) {
			t.Errorf("%v: quoted %x, want the SYN %x", dst, got, syn)
		}
		verifyChecksums(t, b)
	}
}

// verifyChecksums checks the IPv4 header checksum and the TCP or ICMP
// checksum the way a receiver does: summing with the checksum in gives 0.
func verifyChecksums(t *testing.T, b []byte) {
	t.Helper()
	var src, dst netip.Addr
	var proto uint8
	var payload []byte
	if b[0]>>4 == 4 {
		if fold(0, b[:20]) != 0 {
			t.Errorf("bad IPv4 header checksum in %x", b)
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		proto, payload = b[9], b[20:]
	} else {
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		proto, payload = b[6], b[40:]
		if int(binary.BigEndian.Uint16(b[4:6])) != len(payload) {
			t.Errorf("IPv6 payload length %d, want %d", binary.BigEndian.Uint16(b[4:6]), len(payload))
		}
	}
	var sum uint32
	if proto != protoICMP {
		sum = pseudoHeaderSum(src, dst, proto, len(payload))
	}
	if fold(sum, payload) != 0 {
		t.Errorf("bad protocol %d checksum in %x", proto, b)
	}
}

func TestFlagsString(t *testing.T) {
	for f, want := range map[Flags]string{SYN: "S", SYN | ACK: "S.", RST | ACK: "R.", ACK: ".", 0: "none", FIN | PSH | ACK: "FP."} {
		if got := f.String(); got != want {
			t.Errorf("%08b: %q, want %q", uint8(f), got, want)
		}
	}
}

func TestPredicates(t *testing.T) {
	for _, tt := range []struct {
		p             Packet
		syn, rst, ack bool
	}{
		{p: Packet{Proto: protoTCP, Flags: SYN}, syn: true},
		{p: Packet{Proto: protoTCP, Flags: SYN | ECE | CWR}, syn: true},
		{p: Packet{Proto: protoTCP, Flags: SYN | ACK}},
		{p: Packet{Proto: protoTCP, Flags: RST | ACK}, rst: true},
		{p: Packet{Proto: protoTCP, Flags: ACK}, ack: true},
		{p: Packet{Proto: protoTCP, Flags: ACK | PSH, PayloadLen: 1}},
		{p: Packet{Proto: protoICMP}},
	} {
		if tt.p.IsSYN() != tt.syn || tt.p.IsRST() != tt.rst || tt.p.IsBareACK() != tt.ack {
			t.Errorf("%v: IsSYN %v IsRST %v IsBareACK %v", tt.p.Flags, tt.p.IsSYN(), tt.p.IsRST(), tt.p.IsBareACK())
		}
	}
}

// FuzzParse feeds parse what a TUN device could hand it: anything.
func FuzzParse(f *testing.F) {
	f.Add(buildTCP(netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), SYN, 1, 0, 1, Options{MSS: 1460}))
	f.Add(buildTCP(netip.MustParseAddrPort("[fd00::1]:1"), netip.MustParseAddrPort("[fd00::2]:2"), SYN, 1, 0, 1, Options{MSS: 1460}))
	f.Add(buildTCP(netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), SYN, 1, 0, 1,
		Options{MSS: 1, SACKPermitted: true, Timestamps: true, ScaleWindow: true, WindowScale: 14}))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parse(b)
		if ok && (p.Proto != protoTCP || p.PayloadLen < 0) {
			t.Fatalf("parse accepted %+v", p)
		}
	})
}
