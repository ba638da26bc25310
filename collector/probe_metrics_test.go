package collector

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
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

// httpWriteBuffer is the size of the bufio.Writer net/http gives each
// connection: a response larger than this, status line and headers
// included, leaves in two write(2) calls instead of one, which costs a
// probe several microseconds of system time.
const httpWriteBuffer = 4096

// TestProbeAnswerOneWrite serves a real /probe of an open loopback port
// and counts what the server wrote to the connection: the whole HTTP
// response must go out in one write. With the headers of that response,
// the largest answer of one check (IPv6, every fingerprint family,
// values of the longest form) must fit in the buffer too, so that a
// longer duration or a peer's wider window does not bring the second
// write back. Long explanations belong in docs/metrics.md, not in HELP.
func TestProbeAnswerOneWrite(t *testing.T) {
	s := newTestServer(t, Options{})
	ln := &countingListener{}
	srv := httptest.NewUnstartedServer(s.Exporter)
	ln.Listener = srv.Listener
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The request of a Prometheus scrape.
	fmt.Fprintf(conn, "GET /probe?target=%s HTTP/1.1\r\nHost: %s\r\n"+
		"Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n"+
		"Accept-Encoding: gzip\r\n%s: 10\r\n\r\n",
		openPort(t, "tcp4", "127.0.0.1:0"), srv.Listener.Addr(), scrapeTimeoutHeader)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("\nprobe_success 1\n")) || !bytes.Contains(body, []byte("\nprobe_tcp_handshake_hash ")) {
		t.Fatalf("not the answer of an open port with its fingerprint:\n%s", body)
	}
	writes, written := ln.writes.Load(), int(ln.written.Load())
	if written <= len(body) {
		t.Fatalf("%d bytes written for a body of %d", written, len(body))
	}
	if writes != 1 {
		t.Errorf("the response (%d bytes: %d of status line and headers, %d of body) left in %d writes, want 1",
			written, written-len(body), len(body), writes)
	}
	worst := len(worstOneCheckRecord.appendMetrics(nil))
	if head := written - len(body); head+worst > httpWriteBuffer {
		t.Errorf("the largest answer of one check (%d bytes) with %d bytes of status line and headers is %d bytes, over net/http's %d-byte buffer",
			worst, head, head+worst, httpWriteBuffer)
	}
	t.Logf("response %d bytes (body %d); largest answer of one check %d bytes", written, len(body), worst)
}

// worstOneCheckRecord is the longest answer one check gives: an open
// IPv6 target with every fingerprint family, and values whose text is as
// long as those families' values get (a duration's seconds take at most
// 18 characters, a 32-bit count 15).
var worstOneCheckRecord = probeRecord{
	Timeout: 1197571638 * time.Nanosecond, Duration: 1197571638 * time.Nanosecond,
	Result: prober.Result{
		Class: prober.ClassOpen, Mode: prober.ModeHalfOpen,
		Addr: netip.MustParseAddrPort("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
		DNS:  1197571638 * time.Nanosecond, SYNACK: 1197571638 * time.Nanosecond, RTT: 1197571638 * time.Nanosecond,
		SYNRetransmits: 127,
		Peer: prober.Peer{
			MSS: 65535, Window: math.MaxUint32, HasWindow: true, WindowScale: 14,
			Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale | prober.OptionECN,
		},
	},
}

// countingListener counts the writes to, and bytes written to, the
// connections it accepts. A write is counted before it is made, so a
// client that has read a response sees every write of it counted.
type countingListener struct {
	net.Listener
	writes  atomic.Int64
	written atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	c.l.written.Add(int64(len(p)))
	return c.Conn.Write(p)
}

// TestProbeFamiliesTable: each family of the /probe answer is one entry
// of probeFamilies, under a name of its own, in at least one kind of
// answer, and the table is in the order a registry writes.
func TestProbeFamiliesTable(t *testing.T) {
	seen := map[string]bool{}
	for i, f := range probeFamilies {
		if seen[f.name] {
			t.Errorf("%s has two entries", f.name)
		}
		seen[f.name] = true
		if f.header == "" && f.headerMany == "" {
			t.Errorf("%s is in no kind of answer", f.name)
		}
		if i > 0 && probeFamilies[i-1].name >= f.name {
			t.Errorf("%s sorts before %s", f.name, probeFamilies[i-1].name)
		}
	}
}
