package prober

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// TestPeerMSSCappedByPathMTU: a route MTU on this host's side caps the
// MSS the kernel keeps (tcpi_snd_mss) though the SYN-ACK on the wire is
// the same, so probe_tcp_peer_mss_bytes and the handshake hash change
// with this host's path. No getsockopt open to the exporter gives the
// peer's value back: TCP_MAXSEG is tcpi_snd_mss, tcpi_advmss is this
// host's own, and only TCP_REPAIR (CAP_NET_ADMIN, and no RST on close)
// reads the clamp. docs/fingerprint.md ("MSS", "The hash") says so.
func TestPeerMSSCappedByPathMTU(t *testing.T) {
	ns := netns.New(t)
	tests := []struct {
		name  string
		ipv6  bool
		route string // after "ip route add ADDR dev DEV"; "" for none
		pmtu  uint32 // tcpi_pmtu
		mss   uint32
	}{
		// The TUN device's MTU of 1500 less the IP and TCP headers.
		{"IPv4, device MTU 1500", false, "", 1500, 1460},
		{"IPv4, mtu lock 1280", false, "mtu lock 1280", 1280, 1240},
		{"IPv6, device MTU 1500", true, "", 1500, 1440},
		{"IPv6, mtu lock 1280", true, "mtu lock 1280", 1280, 1220},
	}
	hashes := map[bool][]uint32{} // by family, in the order above
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := fakepeer.Start(t, ns, fakepeer.Config{
				OpenPorts: []uint16{80}, MSS: 1460,
				Timestamps: true, SACK: true, ScaleWindow: true, WindowScale: 7,
				Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", 120+i)),
				Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", 120+i)),
			})
			addr := peer.Addr()
			if tt.ipv6 {
				if addr = peer.Addr6(); !addr.IsValid() {
					t.Skip("this kernel has no IPv6")
				}
			}
			if tt.route != "" {
				route := fmt.Sprintf("%v dev %s %s", netip.PrefixFrom(addr, addr.BitLen()), peer.Device(), tt.route)
				if err := ns.AddRoute(route); err != nil {
					t.Fatal(err)
				}
			}
			r := checkIn(t, ns, newChecker(t), netip.AddrPortFrom(addr, 80), 5*time.Second)
			if r.Class != ClassOpen {
				t.Fatalf("result %+v\n%s", r, peer.Transcript())
			}
			t.Logf("peer %+v, hash %#x", r.Peer, r.Peer.Hash())
			for _, a := range peer.Answers() {
				if a.MSS != 1460 {
					t.Errorf("SYN-ACK %v: MSS %d on the wire, want 1460 whatever the route", a, a.MSS)
				}
			}
			if r.Peer.MSS != tt.mss || r.Peer.Options != OptionTimestamps|OptionSACK|OptionWindowScale {
				t.Errorf("peer %+v, want MSS %d and all three options", r.Peer, tt.mss)
			}
			hashes[tt.ipv6] = append(hashes[tt.ipv6], r.Peer.Hash())
			v := readMSSViews(t, ns, addr)
			t.Logf("getsockopt: %+v", v)
			if v.pmtu != tt.pmtu {
				t.Errorf("tcpi_pmtu %d, want %d", v.pmtu, tt.pmtu)
			}
			if v.maxseg+timestampOptionLen != int(tt.mss) || v.repairMaxseg != 1460 {
				t.Errorf("TCP_MAXSEG %d, in repair mode %d: want %d, the kept MSS less 12, and 1460, the SYN-ACK's", v.maxseg, v.repairMaxseg, int(tt.mss)-timestampOptionLen)
			}
		})
	}
	for ipv6, hs := range hashes {
		if len(hs) == 2 && hs[0] == hs[1] {
			t.Errorf("IPv6 %v: hash %#x with and without the route: want it to change with the path MTU", ipv6, hs[0])
		}
	}
}

// mssViews are what getsockopt tells of the MSS of an established socket.
type mssViews struct {
	sndMSS, advMSS, pmtu uint32 // tcpi_snd_mss, tcpi_advmss, tcpi_pmtu
	maxseg               int    // TCP_MAXSEG
	repairMaxseg         int    // TCP_MAXSEG in repair mode: the peer's clamp
}

// readMSSViews connects to addr from ns and reads every view of the MSS
// within the 200 ms that TCP_QUICKACK off holds the handshake's ACK back
// (the fake peer would reset it). Repair mode then closes without a
// packet.
func readMSSViews(t *testing.T, ns *netns.NS, addr netip.Addr) mssViews {
	t.Helper()
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Addr: addr.As16(), Port: 80})
	if addr.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: addr.As4(), Port: 80}
	}
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatalf("connect %v: %v", addr, err)
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Fatal(err)
	}
	v := mssViews{sndMSS: info.Snd_mss, advMSS: info.Advmss, pmtu: info.Pmtu}
	if v.maxseg, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1); err != nil {
		t.Fatalf("TCP_REPAIR: %v", err)
	}
	if v.repairMaxseg, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPeerMSSFloorBeforeTimestamps: the kernel applies its 48-byte floor
// (net.ipv4.tcp_min_snd_mss) before it takes the 12 bytes of the
// timestamp option off, so an MSS of 40 with timestamps keeps
// tcpi_snd_mss 36, and the exporter, adding the 12 back, reads 48, as
// without timestamps.
func TestPeerMSSFloorBeforeTimestamps(t *testing.T) {
	ns := netns.New(t)
	for i, timestamps := range []bool{false, true} {
		t.Run(fmt.Sprint("timestamps ", timestamps), func(t *testing.T) {
			peer := fakepeer.Start(t, ns, fakepeer.Config{
				OpenPorts: []uint16{80}, MSS: 40, Window: 4096, Timestamps: timestamps,
				Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", 130+i)),
				Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", 130+i)),
			})
			r := checkIn(t, ns, newChecker(t), netip.AddrPortFrom(peer.Addr(), 80), 5*time.Second)
			if r.Class != ClassOpen || r.Peer.Has(OptionTimestamps) != timestamps {
				t.Fatalf("result %+v, want open with timestamps %v\n%s", r, timestamps, peer.Transcript())
			}
			if r.Peer.MSS != 48 {
				t.Errorf("MSS %d, want 48", r.Peer.MSS)
			}
		})
	}
}
