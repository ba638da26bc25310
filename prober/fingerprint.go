package prober

import (
	"encoding/binary"
	"hash/fnv"
	"strings"
)

// PeerOption is a TCP option the handshake agreed on; or'ed together,
// a set of them.
type PeerOption uint8

// The options, with the bit values of the kernel's TCPI_OPT_* flags in
// tcpi_options, so the kernel's byte maps onto them unchanged.
const (
	OptionTimestamps  PeerOption = 1 << 0 // TCPI_OPT_TIMESTAMPS
	OptionSACK        PeerOption = 1 << 1 // TCPI_OPT_SACK
	OptionWindowScale PeerOption = 1 << 2 // TCPI_OPT_WSCALE
	OptionECN         PeerOption = 1 << 3 // TCPI_OPT_ECN
)

// PeerOptions lists every option a Peer reports, for exporters that
// publish one series per option.
var PeerOptions = []PeerOption{OptionTimestamps, OptionSACK, OptionWindowScale, OptionECN}

var optionNames = map[PeerOption]string{
	OptionTimestamps:  "timestamps",
	OptionSACK:        "sack",
	OptionWindowScale: "window_scale",
	OptionECN:         "ecn",
}

// String returns the option's name, as used in metric labels; for a set,
// the names joined with "+".
func (o PeerOption) String() string {
	if name, ok := optionNames[o]; ok {
		return name
	}
	var names []string
	for _, one := range PeerOptions {
		if o&one != 0 {
			names = append(names, optionNames[one])
		}
	}
	return strings.Join(names, "+")
}

// Peer is what the target said about itself in its SYN-ACK, as the
// kernel kept it after the handshake (TCP_INFO). docs/fingerprint.md
// says how each field is recovered and where it stops being exact.
type Peer struct {
	// MSS is the MSS the SYN-ACK announced: tcpi_snd_mss, plus the 12
	// bytes of the timestamp option when timestamps were agreed. It is
	// the smaller of the peer's value and this host's own bound (path
	// MTU less the IP and TCP headers), and 536 (IPv4) or 1220 (IPv6)
	// when the SYN-ACK had no MSS option. 0 when unknown.
	MSS uint32
	// Window is the SYN-ACK's window (tcpi_snd_wnd); a SYN-ACK's window
	// is never scaled. Valid only when HasWindow: kernels before 5.4 do
	// not report it, and a segment after the SYN-ACK replaces it.
	Window    uint32
	HasWindow bool
	// WindowScale is the peer's window scale shift (tcpi_snd_wscale);
	// meaningful only when Options has OptionWindowScale.
	WindowScale uint8
	// Options is the set of options both sides agreed on, one bit each.
	Options PeerOption
}

// Known reports whether p was read from a SYN-ACK: the kernel never
// reports an MSS of 0.
func (p Peer) Known() bool { return p.MSS != 0 }

// Has reports whether the handshake agreed on o.
func (p Peer) Has(o PeerOption) bool { return p.Options&o != 0 }

// Hash is FNV-1a 32 over a fixed 8-byte encoding of p: MSS as a
// big-endian uint16 (saturated at 65535), the window as a big-endian
// uint32 (0xffffffff when the kernel does not report it), the window
// scale (0xff when not agreed), and the options byte. It changes when any
// of them changes, the MSS also when only this host's path MTU to the
// target, which bounds it, changed (docs/fingerprint.md, "The hash").
func (p Peer) Hash() uint32 {
	var b [8]byte
	binary.BigEndian.PutUint16(b[0:2], uint16(min(p.MSS, 0xffff)))
	window := uint32(0xffffffff)
	if p.HasWindow {
		window = p.Window
	}
	binary.BigEndian.PutUint32(b[2:6], window)
	b[6] = 0xff
	if p.Has(OptionWindowScale) {
		b[6] = p.WindowScale
	}
	b[7] = byte(p.Options)
	h := fnv.New32a()
	h.Write(b[:])
	return h.Sum32()
}
