package collector

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// TestInFlightProbeStack holds probes of a silent target in flight and
// measures the goroutine stacks the server keeps for each. A single check
// waits in the request's goroutine, below every frame from net/http's
// conn.serve down to the netpoller, and a goroutine whose stack outgrew
// 8 kB once keeps 16 kB: a few hundred bytes more in a frame on that
// path cost 8 kB per probe in flight (bench/run.sh -scenarios inflight).
// The clients are bare connections, which have no goroutines.
func TestInFlightProbeStack(t *testing.T) {
	s := newTestServer(t, Options{})
	target := loopback.Silent(t).String()
	const probes = 200
	// net/http gives each request two goroutines (its handler and a
	// background read); the handler's must stay at 8 kB, the other is
	// smaller. 16 kB a probe means the handler's has doubled. The race
	// detector doubles every stack.
	limit := int64(14 << 10)
	if raceEnabled {
		limit *= 2
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	before := stackInUse()
	conns := make([]net.Conn, 0, probes)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range probes {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /probe?target=%s HTTP/1.1\r\nHost: x\r\n%s: 30\r\n\r\n", target, scrapeTimeoutHeader)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.inFlight.Load() < probes {
		if time.Now().After(deadline) {
			t.Fatalf("%d probes in flight after 20s, want %d", s.inFlight.Load(), probes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	perProbe := (stackInUse() - before) / probes
	t.Logf("%d B of goroutine stack per probe in flight", perProbe)
	if perProbe > limit {
		t.Errorf("%d B of goroutine stack per probe in flight, want at most %d: a frame on a waiting check's path has grown", perProbe, limit)
	}
	// The probes end when their connections close; one answers, to be sure
	// they were real probes of the silent target.
	conns[0].SetDeadline(time.Now().Add(time.Second))
	conns[0].(*net.TCPConn).CloseWrite()
	if _, err := bufio.NewReader(conns[0]).ReadString('\n'); err != nil && err.Error() != "EOF" {
		t.Logf("first connection: %v", err)
	}
}

// stackInUse is the bytes of goroutine stacks the runtime holds.
func stackInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.StackInuse)
}
