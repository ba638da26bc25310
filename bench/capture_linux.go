package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// wirePacket is a TCP segment seen on the TUN device, stamped by the
// kernel as it passed the device: the SYN as the prober's kernel sent it,
// the SYN-ACK as the peer's write delivered it. The gap between the two is
// the latency on the wire, free of any goroutine's scheduling.
type wirePacket struct {
	at       time.Time
	src, dst netip.AddrPort
	flags    byte
	outgoing bool // PACKET_OUTGOING: loopback shows each packet twice
}

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// flagNames renders TCP flags as tcpdump's users read them.
func flagNames(f byte) string {
	var names []string
	for _, n := range []struct {
		bit  byte
		name string
	}{{tcpSYN, "SYN"}, {tcpFIN, "FIN"}, {tcpRST, "RST"}, {tcpPSH, "PSH"}, {tcpACK, "ACK"}} {
		if f&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "-")
}

// capture records the TCP segments that cross one device.
type capture struct {
	fd     int
	done   chan struct{}
	exited chan struct{}

	mu      sync.Mutex
	packets []wirePacket
	err     error
}

// startCapture opens a packet socket on dev inside ns, with kernel
// timestamps, and records until stop.
func startCapture(ns *netns.NS, dev string) (*capture, error) {
	c := &capture{done: make(chan struct{}), exited: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return os.NewSyscallError("socket AF_PACKET", err)
		}
		c.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("bind", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", dev, err)
	}
	for _, o := range []struct {
		level, opt, value int
	}{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64 << 20}, // never drop: the reader may lag
	} {
		if err := unix.SetsockoptInt(c.fd, o.level, o.opt, o.value); err != nil {
			unix.Close(c.fd)
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	// A receive timeout lets the reader notice stop.
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(c.fd)
		return nil, os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	go c.read()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *capture) read() {
	defer close(c.exited)
	buf := make([]byte, 256) // headers are enough
	oob := make([]byte, 128)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_TRUNC)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = os.NewSyscallError("recvmsg", err)
			c.mu.Unlock()
			return
		}
		at, ok := timestamp(oob[:oobn])
		pkt, ok2 := parseTCP4(buf[:min(n, len(buf))])
		if !ok || !ok2 {
			continue
		}
		pkt.at = at
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			pkt.outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		c.mu.Lock()
		c.packets = append(c.packets, pkt)
		c.mu.Unlock()
	}
}

// timestamp reads SCM_TIMESTAMPNS from a control message.
func timestamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix()), true
		}
	}
	return time.Time{}, false
}

// parseTCP4 reads the addresses, ports and flags of an IPv4 TCP segment.
func parseTCP4(b []byte) (wirePacket, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || b[9] != unix.IPPROTO_TCP {
		return wirePacket{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	if len(b) < ihl+14 {
		return wirePacket{}, false
	}
	t := b[ihl:]
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), binary.BigEndian.Uint16(t[0:2]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), binary.BigEndian.Uint16(t[2:4]))
	return wirePacket{src: src, dst: dst, flags: t[13]}, true
}

// take returns the packets recorded so far and forgets them.
func (c *capture) take() ([]wirePacket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.packets
	c.packets = nil
	return p, c.err
}

func (c *capture) stop() {
	close(c.done)
	<-c.exited // within one receive timeout
	unix.Close(c.fd)
}
