//go:build unix

package collector

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// BenchmarkProbe measures one /probe request through the handler, with
// the headers a Prometheus scrape sends. checker=fixed is the handler's
// own cost (parsing, recording, metrics, encoding); checker=loopback adds
// a real half-open check of a loopback listener. Compare in one run:
//
//	go test -run '^$' -bench Probe -benchmem -count 10 ./collector | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkProbe(b *testing.B) {
	b.Run("checker=fixed", func(b *testing.B) {
		fixed := checkerFunc(func(context.Context, string) prober.Result {
			r := openResult
			r.SYNACK, r.RTT = 42*time.Microsecond, 40*time.Microsecond
			r.Peer = prober.Peer{MSS: 1460, Window: 65160, HasWindow: true, WindowScale: 7,
				Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale}
			return r
		})
		benchmarkProbe(b, fixed, "127.0.0.1:22")
	})
	b.Run("checker=loopback", func(b *testing.B) {
		if runtime.GOOS != "linux" {
			b.Skip("half-open checks need Linux")
		}
		c := newChecker(b, testResolver{})
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		benchmarkProbe(b, c, ln.Addr().String())
	})
}

func benchmarkProbe(b *testing.B, c Checker, target string) {
	path := filepath.Join(b.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(testConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	e := New(Options{Checker: c, Config: config.NewStore(path, nil), HistoryLimit: 100})
	if err := e.Reload(); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/probe?module=tcp_synack&target="+target, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set(scrapeTimeoutHeader, "10")
	b.ReportAllocs()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req.Clone(context.Background()))
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	// Wall time per request depends on what else the machine runs; the
	// CPU time the process spent per request much less so.
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
