package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// listenerMSS is the TCP_MAXSEG of the real listener: a value no default
// gives, so the test sees the listener's own setting come through.
const listenerMSS = 1000

// TestPeerFromLinuxListener checks a real Linux listener, in a namespace
// of its own joined to the prober's by a veth pair, with its TCP options
// turned off one at a time and with SYN cookies forced. docs/fingerprint.md
// records what this test observes.
func TestPeerFromLinuxListener(t *testing.T) {
	client := netns.New(t)
	var base Peer
	tests := []struct {
		name    string
		sysctls []string
		cookies bool
		// want derives the expected fingerprint from the listener's
		// with its defaults.
		want func(Peer) Peer
	}{
		{"defaults", nil, false, func(p Peer) Peer { return p }},
		{"tcp_sack=0", []string{"net.ipv4.tcp_sack=0"}, false, func(p Peer) Peer {
			p.Options &^= OptionSACK
			return p
		}},
		{"tcp_timestamps=0", []string{"net.ipv4.tcp_timestamps=0"}, false, func(p Peer) Peer {
			p.Options &^= OptionTimestamps
			p.Window = windowFor(listenerMSS)
			return p
		}},
		{"tcp_window_scaling=0", []string{"net.ipv4.tcp_window_scaling=0"}, false, func(p Peer) Peer {
			p.Options &^= OptionWindowScale
			p.WindowScale = 0
			return p
		}},
		// A cookie SYN-ACK keeps SACK, window scale and ECN only by
		// encoding them in its TSval: with timestamps on, nothing the
		// fingerprint shows changes.
		{"tcp_syncookies=2", []string{"net.ipv4.tcp_syncookies=2"}, true, func(p Peer) Peer { return p }},
		// Without timestamps a cookie cannot carry the options: the
		// listener agrees to none of them.
		{"tcp_syncookies=2, tcp_timestamps=0", []string{"net.ipv4.tcp_syncookies=2", "net.ipv4.tcp_timestamps=0"}, true, func(p Peer) Peer {
			p.Options = 0
			p.WindowScale = 0
			p.Window = windowFor(listenerMSS)
			return p
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, addr := linkedServer(t, client, 200+i)
			for _, s := range tt.sysctls {
				setSysctl(t, server, s)
			}
			listenWithMSS(t, server, addr, listenerMSS)
			cookiesBefore := syncookiesSent(t, server)
			r := checkIn(t, client, newChecker(t), addr, 5*time.Second)
			if r.Class != ClassOpen {
				t.Fatalf("result %+v", r)
			}
			t.Logf("%s: %+v, hash %#x", tt.name, r.Peer, r.Peer.Hash())
			if sent := syncookiesSent(t, server) - cookiesBefore; (sent > 0) != tt.cookies {
				t.Fatalf("%d SYN cookies sent, want cookies %v", sent, tt.cookies)
			}
			if i == 0 {
				base = r.Peer
				all := OptionTimestamps | OptionSACK | OptionWindowScale
				want := Peer{MSS: listenerMSS, Window: windowFor(listenerMSS - 12), HasWindow: true, WindowScale: base.WindowScale, Options: all}
				if base != want || base.WindowScale == 0 {
					t.Fatalf("listener with defaults: %+v, want %+v with a window scale above 0", base, want)
				}
				return
			}
			if !base.Known() {
				t.Skip("the listener with defaults failed")
			}
			want := tt.want(base)
			if r.Peer != want {
				t.Errorf("peer %+v, want %+v", r.Peer, want)
			}
			if (r.Peer.Hash() == base.Hash()) != (want == base) {
				t.Errorf("hash %#x against the defaults' %#x: want a change exactly when the fingerprint changes", r.Peer.Hash(), base.Hash())
			}
		})
	}
}

// TestPeerNeedsThisHost: an option is agreed only when this host offers
// it too, so the exporter host's own sysctls change the fingerprint.
func TestPeerNeedsThisHost(t *testing.T) {
	client := netns.New(t)
	setSysctl(t, client, "net.ipv4.tcp_sack=0")
	setSysctl(t, client, "net.ipv4.tcp_timestamps=0")
	server, addr := linkedServer(t, client, 220)
	listenWithMSS(t, server, addr, listenerMSS)
	r := checkIn(t, client, newChecker(t), addr, 5*time.Second)
	if r.Class != ClassOpen {
		t.Fatalf("result %+v", r)
	}
	if r.Peer.Options != OptionWindowScale || r.Peer.MSS != listenerMSS || r.Peer.Window != windowFor(listenerMSS) {
		t.Errorf("peer %+v, want window_scale alone, MSS %d, window %d", r.Peer, listenerMSS, windowFor(listenerMSS))
	}
}

// setSysctl sets one "net.ipv4.NAME=VALUE" inside ns: a file of
// /proc/sys/net opened from a thread in a namespace is that namespace's.
func setSysctl(t *testing.T, ns *netns.NS, setting string) {
	t.Helper()
	name, value, ok := strings.Cut(setting, "=")
	if !ok {
		t.Fatalf("sysctl %q: want NAME=VALUE", setting)
	}
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	if err := ns.Do(func() error { return os.WriteFile(path, []byte(value), 0) }); err != nil {
		t.Fatalf("sysctl %s in %v: %v", setting, ns, err)
	}
}

// windowFor is the window of a Linux listener's SYN-ACK (with the default
// buffers): 65535 rounded down to a multiple of the segment size it
// expects to receive, its MSS less 12 bytes when timestamps were agreed.
func windowFor(segment uint32) uint32 { return 65535 / segment * segment }

// linkedServer returns a new namespace joined to client by a veth pair on
// 198.18.n.0/24, and the address of its side, port 80.
func linkedServer(t *testing.T, client *netns.NS, n int) (*netns.NS, netip.AddrPort) {
	t.Helper()
	server := netns.New(t)
	dev := fmt.Sprintf("fp%d", n)
	if err := client.Run("ip", "link", "add", dev, "type", "veth", "peer", "name", dev+"s", "netns", server.Path()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Run("ip", "link", "del", dev) })
	local := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", n))
	remote := netip.PrefixFrom(local.Addr().Next(), 24)
	for _, step := range []struct {
		ns   *netns.NS
		dev  string
		addr netip.Prefix
	}{{client, dev, local}, {server, dev + "s", remote}} {
		if err := step.ns.LinkUp(step.dev); err != nil {
			t.Fatal(err)
		}
		if err := step.ns.AddAddr(step.dev, step.addr.String()); err != nil {
			t.Fatal(err)
		}
	}
	return server, netip.AddrPortFrom(remote.Addr(), 80)
}

// listenWithMSS listens on addr inside ns with TCP_MAXSEG set, which the
// listener then announces in its SYN-ACKs.
func listenWithMSS(t *testing.T, ns *netns.NS, addr netip.AddrPort, mss int) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, mss)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp4", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

// syncookiesSent reads the namespace's TcpExtSyncookiesSent counter.
func syncookiesSent(t *testing.T, ns *netns.NS) int {
	t.Helper()
	out, err := ns.Output("nstat", "-az", "TcpExtSyncookiesSent")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "TcpExtSyncookiesSent" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("nstat: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("nstat printed no TcpExtSyncookiesSent:\n%s", out)
	return 0
}
