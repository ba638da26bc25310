package collector

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// answerLater is a Checker whose answer, like a remote target's, comes
// from another goroutine 200 µs later: Check waits for it on a channel as
// a held request waits for the prober's loop, and Begin has it call back.
type answerLater struct{}

const answerDelay = 200 * time.Microsecond

func (answerLater) result() prober.Result {
	r := openResult
	r.SYNACK, r.RTT = 42*time.Microsecond, 40*time.Microsecond
	return r
}

func (a answerLater) Check(context.Context, string, prober.Options) prober.Result {
	ch := make(chan prober.Result, 1)
	time.AfterFunc(answerDelay, func() { ch <- a.result() })
	return <-ch
}

func (a answerLater) Begin(_ context.Context, _ string, _ prober.Options, done func(prober.Result)) (prober.Result, bool) {
	time.AfterFunc(answerDelay, func() { done(a.result()) })
	return prober.Result{}, false
}

// BenchmarkServeProbe measures /probe end to end over keep-alive
// connections to a real server, held (the handler's goroutine waits) and
// parked (the connection is hijacked, answered from the callback, and
// handed back for its next request): what parking costs a probe in CPU.
// The client's work, in the same process, is the same in both.
//
//	go test -run '^$' -bench ServeProbe -count 10 ./collector | tee park.txt
//	benchstat -col /conn park.txt
func BenchmarkServeProbe(b *testing.B) {
	for _, tc := range []struct {
		name      string
		parkAbove int
	}{{"held", -1}, {"parked", 0}} {
		b.Run("conn="+tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "config.yml")
			if err := os.WriteFile(path, []byte(testConfig), 0o644); err != nil {
				b.Fatal(err)
			}
			e := New(Options{Checker: answerLater{}, Config: config.NewStore(path, nil), ParkAbove: tc.parkAbove})
			if err := e.Reload(); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(e)
			go srv.Config.Serve(e.Listener())
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Config.Shutdown(ctx)
				e.Shutdown(ctx)
				srv.Close()
			})
			addr := srv.Listener.Addr().String()
			request := []byte("GET /probe?module=tcp_synack&target=127.0.0.1:22 HTTP/1.1\r\nHost: " + addr +
				"\r\nAccept: text/plain;version=0.0.4\r\n" + scrapeTimeoutHeader + ": 10\r\n\r\n")
			b.ReportAllocs()
			// Parking is for many probes in flight: 64 connections a P.
			b.SetParallelism(64)
			cpu := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				r := bufio.NewReader(conn)
				for pb.Next() {
					if _, err := conn.Write(request); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(r, nil)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || strconv.FormatInt(n, 10) != resp.Header.Get("Content-Length") {
						b.Errorf("status %d, %d bytes for Content-Length %s", resp.StatusCode, n, resp.Header.Get("Content-Length"))
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
