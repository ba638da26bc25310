package prober

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// timestampOptionLen is what the kernel takes off tcpi_snd_mss for the
// timestamp option (TCPOLEN_TSTAMP_ALIGNED) once timestamps are agreed.
const timestampOptionLen = 12

// wscaleOffset is the byte of struct tcp_info holding the bitfields
// tcpi_snd_wscale:4 and tcpi_rcv_wscale:4, right after tcpi_options.
// x/sys/unix's TCPInfo has no field for it (cgo drops bitfields); it is
// the padding before Rto.
const wscaleOffset = 6

// sndWndEnd is how many bytes of tcp_info a kernel must write for
// tcpi_snd_wnd to be there (Linux 5.4 added it).
const sndWndEnd = int(unsafe.Offsetof(unix.TCPInfo{}.Snd_wnd) + unsafe.Sizeof(unix.TCPInfo{}.Snd_wnd))

// peerOf reads what the SYN-ACK said from the kernel's TCP_INFO of an
// established socket.
func peerOf(info *unix.TCPInfo) Peer {
	return peerFrom(info, tcpInfoLen())
}

// peerFrom is peerOf for a kernel that writes n bytes of tcp_info.
func peerFrom(info *unix.TCPInfo, n int) Peer {
	p := Peer{
		MSS:     info.Snd_mss,
		Options: PeerOption(info.Options) & (OptionTimestamps | OptionSACK | OptionWindowScale | OptionECN),
	}
	if p.Has(OptionTimestamps) {
		p.MSS += timestampOptionLen
	}
	if p.Has(OptionWindowScale) {
		p.WindowScale = sndWscale((*[8]byte)(unsafe.Pointer(info))[wscaleOffset])
	}
	// Any segment after the SYN-ACK (a banner, once the handshake's ACK
	// has escaped) sets tcpi_snd_wnd anew, scaled.
	if n >= sndWndEnd && info.Segs_in <= 1 {
		p.Window, p.HasWindow = info.Snd_wnd, true
	}
	return p
}

// sndWscale takes tcpi_snd_wscale, the first of two 4-bit fields, from
// their byte: C compilers put the first bitfield in the low bits on
// little-endian machines and in the high bits on big-endian ones.
func sndWscale(b byte) uint8 {
	if bigEndian {
		return b >> 4
	}
	return b & 0x0f
}

var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// tcpInfoLen returns how many bytes of tcp_info this kernel writes, which
// depends only on its version: getsockopt returns the length it wrote.
// It is learned once, from a socket of its own; until that succeeds it
// is 0, and fields the kernel may lack are reported absent.
func tcpInfoLen() int {
	if n := knownTCPInfoLen.Load(); n != 0 {
		return int(n)
	}
	n, err := readTCPInfoLen()
	if err != nil {
		return 0
	}
	knownTCPInfoLen.Store(int32(n))
	return n
}

var knownTCPInfoLen atomic.Int32

func readTCPInfoLen() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var info unix.TCPInfo
	return tcpInfo(fd, &info)
}
