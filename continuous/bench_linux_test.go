package continuous

import (
	"bytes"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// ended sums the ended checks of every series.
func (r *Runner) ended() uint64 {
	var n uint64
	for _, s := range r.allSeries() {
		for c := range s.classes {
			n += s.classes[c].Load()
		}
	}
	return n
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScheduledCheck is the process's CPU per continuous check of
// a loopback listener, scheduling, the check and its metrics together:
// 100 targets every 10 ms, 10,000 checks a second.
func BenchmarkScheduledCheck(b *testing.B) {
	requireLinux(b)
	var targets []string
	for range 100 {
		_, addr := listen(b, "tcp4", "127.0.0.1:0")
		targets = append(targets, addr)
	}
	r, _ := newRunner(b, Options{MaxRate: -1})
	if err := r.Apply(load(b, groupDoc("    timeout: 1s", "10ms", targets...))); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 10*time.Second, "the first checks", func() bool { return r.ended() >= 100 })
	b.ResetTimer()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu := r.ended(), cpuTime(b)
	for r.ended()-start < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	n := r.ended() - start
	b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(n), "cpu-ns/check")
	runtime.ReadMemStats(&after)
	// Everything the process allocated meanwhile, the prober's share and
	// the polling loop above included.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/check")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkScrape gathers and encodes /metrics with 10,000 targets, each
// with a few observations in its histogram, with and without classic
// buckets; it reports the page's size and the heap per target.
func BenchmarkScrape(b *testing.B) {
	for _, tt := range []struct {
		name    string
		buckets []float64
	}{{"classic+native", DefaultBuckets}, {"native-only", []float64{}}} {
		b.Run(tt.name, func(b *testing.B) {
			const n = 10000
			var targets []string
			for i := range n {
				targets = append(targets, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}), 443).String())
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			reg := prometheus.NewRegistry()
			r := New(Options{Checker: newFakeChecker(0), Registerer: reg, Histogram: HistogramOptions{Buckets: tt.buckets}})
			defer r.Close()
			if err := r.Apply(load(b, groupDoc("    timeout: 1s", "1h", targets...))); err != nil {
				b.Fatal(err)
			}
			for _, s := range r.allSeries() {
				for _, us := range []int{90, 95, 100, 110, 130, 200} {
					d := time.Duration(us) * time.Microsecond
					s.count(prober.ClassOpen)
					s.observe(prober.Result{Class: prober.ClassOpen, RTT: d, Peer: prober.Peer{MSS: 1460}})
				}
			}
			if _, err := reg.Gather(); err != nil { // the native histograms' first swap
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
			var size int
			b.ResetTimer()
			for range b.N {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
				for _, mf := range mfs {
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
				size = buf.Len()
			}
			b.ReportMetric(float64(size), "proto-bytes")
			b.ReportMetric(heap, "heap-B/target")
		})
	}
}
