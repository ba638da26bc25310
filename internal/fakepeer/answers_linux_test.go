package fakepeer

import (
	"net/netip"
	"testing"
	"time"
)

func syn(port uint16, seq uint32) Packet {
	return Packet{Proto: protoTCP, Flags: SYN, Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), port), Seq: seq}
}

func TestDropFirstSYNs(t *testing.T) {
	answer := DropFirstSYNs(3, 10, time.Millisecond)
	dropped := 0
	for i := range 30 {
		if _, ok := answer(i, syn(uint16(1000+i), 7)); !ok {
			dropped++
			// The retransmission of a dropped SYN is answered.
			if d, ok := answer(100+i, syn(uint16(1000+i), 7)); !ok || d != time.Millisecond {
				t.Errorf("retransmission of connection %d: %v %v", i, d, ok)
			}
		}
		if (i+1)%10 == 0 && dropped != 3*(i+1)/10 {
			t.Fatalf("after %d connections %d dropped, want %d", i+1, dropped, 3*(i+1)/10)
		}
	}
}

func TestDelays(t *testing.T) {
	ms := time.Millisecond
	answer := Delays(1*ms, 5*ms, 9*ms)
	for i, want := range []time.Duration{1 * ms, 5 * ms, 9 * ms, 1 * ms} {
		if d, ok := answer(i, syn(uint16(2000+i), 1)); !ok || d != want {
			t.Errorf("connection %d: %v %v, want %v", i, d, ok, want)
		}
	}
	// A retransmission keeps its connection's delay.
	if d, _ := answer(9, syn(2001, 1)); d != 5*ms {
		t.Errorf("retransmission: %v, want 5ms", d)
	}
}
