package collector

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

// BenchmarkProbeSYNCost measures the CPU of one SYN through /probe, the
// HTTP request, the answer and the record included: syn_count 1 pays all
// of that for its one SYN, syn_count 10 shares it among ten.
//
//	go test -run '^$' -bench ProbeSYNCost -count 6 ./collector | tee probe-syn.txt
//	benchstat -col /syn_count probe-syn.txt
func BenchmarkProbeSYNCost(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	path := filepath.Join(b.TempDir(), "config.yml")
	cfg := "modules:\n  one: {preferred_ip_protocol: ip4}\n  ten: {preferred_ip_protocol: ip4, syn_count: 10, syn_interval: 0s}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	e := New(Options{Checker: newChecker(b, testResolver{}), Config: config.NewStore(path, nil), HistoryLimit: 100})
	if err := e.Reload(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, module string
		syns         int
	}{{"syn_count=1", "one", 1}, {"syn_count=10", "ten", 10}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/probe?module="+tc.module+"&target="+ln.Addr().String(), nil)
			req.Header.Set(scrapeTimeoutHeader, "10")
			cpu := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req.Clone(context.Background()))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N*tc.syns), "cpu-ns/SYN")
		})
	}
}
