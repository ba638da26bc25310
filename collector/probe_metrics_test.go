package collector

import (
	"bytes"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// TestAppendMetricsCanonical checks that the hand-written answer is what
// client_golang's encoder writes for the same families: parsing it and
// encoding the families again, sorted by name as a registry sorts them,
// must give the same bytes.
func TestAppendMetricsCanonical(t *testing.T) {
	tests := []struct {
		name string
		rec  probeRecord
	}{
		{"open IPv4", probeRecord{Timeout: 5 * time.Second, Duration: 1234567 * time.Nanosecond, Result: prober.Result{
			Class: prober.ClassOpen, Addr: netip.MustParseAddrPort("127.0.0.1:22"),
			DNS: 3 * time.Microsecond, SYNACK: 55 * time.Microsecond, RTT: 41 * time.Microsecond,
			Peer: prober.Peer{MSS: 65495, Window: 65483, HasWindow: true, WindowScale: 7,
				Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale | prober.OptionECN},
		}}},
		{"open IPv6 after a retransmit", probeRecord{Timeout: 9500 * time.Millisecond, Duration: time.Second, Result: prober.Result{
			Class: prober.ClassOpen, Addr: netip.MustParseAddrPort("[fd00:198:18::2]:443"),
			SYNACK: 1002 * time.Millisecond, RTT: 2 * time.Millisecond, SYNRetransmits: 1,
			Peer: prober.Peer{MSS: 1220},
		}}},
		{"timeout", probeRecord{Timeout: time.Second, Duration: time.Second + time.Microsecond, Result: prober.Result{
			Class: prober.ClassTimeout, Errno: syscall.ETIMEDOUT, Addr: netip.MustParseAddrPort("198.18.0.9:9"),
			SYNRetransmits: 2,
		}}},
		{"resolve failure, no address", probeRecord{Timeout: time.Nanosecond, Duration: math.MaxInt64, Result: prober.Result{
			Class: prober.ClassResolve, Errno: syscall.EINVAL,
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rec.appendMetrics(nil)
			parser := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := parser.TextToMetricFamilies(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, got)
			}
			names := slices.Sorted(maps.Keys(mfs))
			var want bytes.Buffer
			for _, name := range names {
				if _, err := expfmt.MetricFamilyToText(&want, mfs[name]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("answer is not in canonical form:\n%s\nwant:\n%s", got, want.Bytes())
			}
			wantFamilies := 10
			if tt.rec.Result.Success() {
				wantFamilies += 2 // synack and rtt
			}
			if peer := tt.rec.Result.Peer; peer.Known() {
				wantFamilies += 3 // handshake hash, MSS, options
				if peer.HasWindow {
					wantFamilies++
				}
				if peer.Has(prober.OptionWindowScale) {
					wantFamilies++
				}
			}
			if !tt.rec.Result.Addr.IsValid() {
				wantFamilies-- // no address hash
			}
			if len(mfs) != wantFamilies {
				t.Errorf("%d families, want %d", len(mfs), wantFamilies)
			}
			for _, mf := range mfs {
				if mf.GetType() != dto.MetricType_GAUGE {
					t.Errorf("%s is a %v, want a gauge", mf.GetName(), mf.GetType())
				}
			}
			if !strings.Contains(string(got), `probe_tcp_error_class{class="`+prober.FailureClasses[0].String()+`"}`) {
				t.Errorf("no error class series:\n%s", got)
			}
		})
	}
}

// TestIPAddrHash: probe_ip_addr_hash is blackbox_exporter's value for the
// same address, so dashboards that compare it keep working.
func TestIPAddrHash(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want uint32
	}{
		{"127.0.0.1", 3668918509}, // blackbox_exporter 0.23's answer
		{"::ffff:127.0.0.1", 3668918509},
		{"::1", fnv1a32(append(make([]byte, 15), 1))},
		{"fd00:198:18::2", fnv1a32([]byte{0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2})},
	} {
		if got := ipAddrHash(netip.MustParseAddr(tt.addr)); got != float64(tt.want) {
			t.Errorf("ipAddrHash(%s) = %.0f, want %d", tt.addr, got, tt.want)
		}
	}
}

// fnv1a32 is FNV-1a, 32 bits, written out from its definition so that the
// test does not check hash/fnv against itself.
func fnv1a32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
