package prober

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// TestPeerFromFakePeer checks every field of the fingerprint against
// what the fake peer put in its SYN-ACK.
func TestPeerFromFakePeer(t *testing.T) {
	ns := netns.New(t)
	all := OptionTimestamps | OptionSACK | OptionWindowScale
	tests := []struct {
		name string
		cfg  fakepeer.Config
		ipv6 bool
		want Peer
	}{
		{"MSS 1000, SACK, timestamps, window scale 7", fakepeer.Config{
			MSS: 1000, SACK: true, Timestamps: true, ScaleWindow: true, WindowScale: 7, Window: 65535,
		}, false, Peer{MSS: 1000, Window: 65535, HasWindow: true, WindowScale: 7, Options: all}},
		{"MSS 536, no options", fakepeer.Config{MSS: 536, Window: 5840},
			false, Peer{MSS: 536, Window: 5840, HasWindow: true}},
		{"IPv6, MSS 1000, timestamps only", fakepeer.Config{MSS: 1000, Timestamps: true, Window: 29200},
			true, Peer{MSS: 1000, Window: 29200, HasWindow: true, Options: OptionTimestamps}},
		// Without an MSS option the kernel assumes RFC 9293's default.
		{"no MSS option", fakepeer.Config{NoMSS: true, Window: 8192},
			false, Peer{MSS: 536, Window: 8192, HasWindow: true}},
		{"IPv6, no MSS option", fakepeer.Config{NoMSS: true, Window: 8192},
			true, Peer{MSS: 1220, Window: 8192, HasWindow: true}},
		// The TUN device's MTU of 1500 bounds what this side sends: the
		// peer's 9000 cannot be recovered, only "at least 1460".
		{"MSS above this side's path MTU", fakepeer.Config{MSS: 9000, SACK: true, Window: 65535},
			false, Peer{MSS: 1460, Window: 65535, HasWindow: true, Options: OptionSACK}},
		{"IPv6, MSS above this side's path MTU", fakepeer.Config{MSS: 9000, Timestamps: true, Window: 65535},
			true, Peer{MSS: 1440, Window: 65535, HasWindow: true, Options: OptionTimestamps}},
		{"window scale 14, the largest", fakepeer.Config{MSS: 1460, ScaleWindow: true, WindowScale: 14, Window: 4096},
			false, Peer{MSS: 1460, Window: 4096, HasWindow: true, WindowScale: 14, Options: OptionWindowScale}},
		// The kernel sends no segment larger than half the largest
		// window seen (tcp_bound_to_half_wnd), the whole window when
		// that is 536 or less, and the bound is applied after the
		// timestamp option is taken off.
		{"window below twice the MSS", fakepeer.Config{MSS: 1460, Window: 1024},
			false, Peer{MSS: 512, Window: 1024, HasWindow: true}},
		{"window below twice the MSS, timestamps", fakepeer.Config{MSS: 1460, Timestamps: true, Window: 1024},
			false, Peer{MSS: 512 + 12, Window: 1024, HasWindow: true, Options: OptionTimestamps}},
		{"window below 536", fakepeer.Config{MSS: 1460, Window: 300},
			false, Peer{MSS: 300, Window: 300, HasWindow: true}},
		// RFC 7323 allows 14 at most; the kernel takes a larger shift as 14.
		{"window scale 15", fakepeer.Config{MSS: 1460, ScaleWindow: true, WindowScale: 15, Window: 4096},
			false, Peer{MSS: 1460, Window: 4096, HasWindow: true, WindowScale: 14, Options: OptionWindowScale}},
		// The kernel sends no segment below 48 bytes (TCP_MIN_SND_MSS).
		{"MSS 40", fakepeer.Config{MSS: 40, Window: 4096},
			false, Peer{MSS: 48, Window: 4096, HasWindow: true}},
		{"window scale 0", fakepeer.Config{MSS: 1460, ScaleWindow: true, Window: 64240},
			false, Peer{MSS: 1460, Window: 64240, HasWindow: true, Options: OptionWindowScale}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.OpenPorts = []uint16{80}
			// One peer per case in the same namespace: distinct subnets.
			tt.cfg.Local4 = netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", 100+i))
			tt.cfg.Local6 = netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", 100+i))
			peer := fakepeer.Start(t, ns, tt.cfg)
			addr := peer.Addr()
			if tt.ipv6 {
				if addr = peer.Addr6(); !addr.IsValid() {
					t.Skip("this kernel has no IPv6")
				}
			}
			r := checkIn(t, ns, newChecker(t), netip.AddrPortFrom(addr, 80), 5*time.Second)
			if r.Class != ClassOpen {
				t.Fatalf("result %+v\n%s", r, peer.Transcript())
			}
			if r.Peer != tt.want {
				t.Errorf("peer %+v, want %+v\n%s", r.Peer, tt.want, peer.Transcript())
			}
		})
	}
}

// TestPeerECN needs this side to ask for ECN (net.ipv4.tcp_ecn=1; the
// default 2 only accepts it), which is per namespace.
func TestPeerECN(t *testing.T) {
	ns := netns.New(t)
	setSysctl(t, ns, "net.ipv4.tcp_ecn=1")
	for _, ecn := range []bool{false, true} {
		t.Run(fmt.Sprint("peer agrees ", ecn), func(t *testing.T) {
			n := 110
			if ecn {
				n++
			}
			peer := fakepeer.Start(t, ns, fakepeer.Config{
				OpenPorts: []uint16{80}, ECN: ecn,
				Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", n)),
				Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", n)),
			})
			r := checkIn(t, ns, newChecker(t), netip.AddrPortFrom(peer.Addr(), 80), 5*time.Second)
			if r.Class != ClassOpen || r.Peer.Has(OptionECN) != ecn {
				t.Fatalf("result %+v, want ecn %v\n%s", r, ecn, peer.Transcript())
			}
		})
	}
}

// TestPeerWindowAbsent: a kernel before 5.4 writes a shorter tcp_info
// without tcpi_snd_wnd; the window is then absent, not 0. So it is when
// a segment came after the SYN-ACK and moved tcpi_snd_wnd.
func TestPeerWindowAbsent(t *testing.T) {
	info := unix.TCPInfo{Snd_mss: 1448, Options: uint8(OptionTimestamps), Snd_wnd: 0}
	if p := peerFrom(&info, int(unsafe.Offsetof(info.Snd_wnd))); p.HasWindow || p.MSS != 1460 {
		t.Errorf("short tcp_info: %+v, want no window and MSS 1460", p)
	}
	if p := peerFrom(&info, sndWndEnd); !p.HasWindow || p.Window != 0 {
		t.Errorf("tcp_info with snd_wnd: %+v, want a window of 0", p)
	}
	if p := peerFrom(&info, 0); p.HasWindow {
		t.Errorf("unknown tcp_info length: %+v, want no window", p)
	}
	info.Segs_in = 2
	if p := peerFrom(&info, sndWndEnd); p.HasWindow {
		t.Errorf("a segment after the SYN-ACK: %+v, want no window", p)
	}
}

// TestTCPInfoLayout pins what peerFrom assumes about x/sys/unix's TCPInfo
// and this kernel.
func TestTCPInfoLayout(t *testing.T) {
	var info unix.TCPInfo
	if off := unsafe.Offsetof(info.Options); off+1 != wscaleOffset {
		t.Errorf("tcpi_options at %d: the wscale byte is not at %d", off, wscaleOffset)
	}
	if off := unsafe.Offsetof(info.Rto); off <= wscaleOffset {
		t.Errorf("Rto at %d covers the wscale byte", off)
	}
	n := tcpInfoLen()
	t.Logf("this kernel writes %d bytes of tcp_info; x/sys/unix's TCPInfo has %d; snd_wnd ends at %d", n, unsafe.Sizeof(info), sndWndEnd)
	if n < sndWndEnd {
		t.Skipf("kernel older than 5.4: tcp_info of %d bytes has no tcpi_snd_wnd", n)
	}
}

func TestSndWscale(t *testing.T) {
	b := byte(0x7e) // snd 14, rcv 7 on little-endian
	want := uint8(14)
	if bigEndian {
		want = 7
	}
	if got := sndWscale(b); got != want {
		t.Errorf("sndWscale(%#x) = %d, want %d", b, got, want)
	}
}
