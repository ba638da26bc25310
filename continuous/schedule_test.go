package continuous

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
)

func TestPhaseStable(t *testing.T) {
	// The phase depends on module and target only: the figures below
	// are what every restart, and every exporter, computes.
	tests := []struct {
		module, target string
		interval       time.Duration
	}{
		{"tcp_synack", "db-1.example.net:5432", time.Second},
		{"tcp_synack", "[2001:db8::10]:443", time.Second},
		{"tcp_fast", "db-1.example.net:5432", 5 * time.Second},
	}
	seen := map[time.Duration]bool{}
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.target, func(t *testing.T) {
			h := Hash(tt.module, tt.target)
			p := Phase(h, tt.interval)
			if p < 0 || p >= tt.interval {
				t.Fatalf("phase %v outside [0, %v)", p, tt.interval)
			}
			if again := Phase(Hash(tt.module, tt.target), tt.interval); again != p {
				t.Errorf("phase %v, then %v", p, again)
			}
			seen[p] = true
			// Every slot is the phase plus whole intervals since the epoch.
			now := time.Now()
			slot := nextSlot(now, p, tt.interval)
			if slot.Before(now) || slot.Sub(now) >= tt.interval {
				t.Errorf("next slot %v is not within an interval after %v", slot, now)
			}
			if off := time.Duration(slot.UnixNano() % int64(tt.interval)); off != p {
				t.Errorf("slot at %v into its interval, want the phase %v", off, p)
			}
			if same := nextSlot(slot, p, tt.interval); !same.Equal(slot) {
				t.Errorf("a slot's own next slot is %v, want itself %v", same, slot)
			}
		})
	}
	if len(seen) != len(tests) {
		t.Errorf("%d distinct phases for %d targets", len(seen), len(tests))
	}
	// The hash is FNV-1a 64 over module, a zero byte and target; a fixed
	// value keeps it from changing by accident (shards depend on it).
	if got, want := Hash("tcp_synack", "127.0.0.1:22"), uint64(0x7af0acca96c6f2e3); got != want {
		t.Errorf("Hash = %#x, want %#x", got, want)
	}
}

func TestPhaseSpread(t *testing.T) {
	// 10,000 targets over 1s in 10 bins of 100ms: each bin within 10% of
	// its fair share, so checks do not come in bursts.
	const targets, bins = 10000, 10
	var count [bins]int
	for i := range targets {
		p := Phase(Hash("tcp_synack", fmt.Sprintf("198.18.%d.%d:443", i/250, i%250)), time.Second)
		count[p/(time.Second/bins)]++
	}
	for i, n := range count {
		if n < targets/bins*9/10 || n > targets/bins*11/10 {
			t.Errorf("bin %d has %d targets, want about %d: %v", i, n, targets/bins, count)
		}
	}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want Shard
		err  bool
	}{
		{"", Shard{}, false},
		{"0/1", Shard{0, 1}, false},
		{"2/3", Shard{2, 3}, false},
		{"3/3", Shard{}, true},
		{"1/0", Shard{}, true},
		{"1", Shard{}, true},
		{"-1/3", Shard{}, true},
		{"a/b", Shard{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShard(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseShard(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestShardCoversEveryTargetOnce(t *testing.T) {
	const n = 3
	var targets []string
	for i := range 200 {
		targets = append(targets, fmt.Sprintf("127.0.%d.%d:22", i/100, i%100+1))
	}
	cfg := load(t, groupDoc("    timeout: 1s", "1h", targets...))
	owner := map[string]int{}
	for i := range n {
		r, _ := newRunner(t, Options{Checker: newFakeChecker(0), Shard: Shard{uint64(i), n}})
		if err := r.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		views := r.views()
		if len(views) < 200/n/2 {
			t.Errorf("shard %d/%d has %d targets, want about %d", i, n, len(views), 200/n)
		}
		for _, v := range views {
			if prev, dup := owner[v.target]; dup {
				t.Errorf("%s is in shards %d and %d", v.target, prev, i)
			}
			owner[v.target] = i
			// The same hash a test (or a script) computes.
			if h := Hash("m", v.target); h%n != uint64(i) {
				t.Errorf("%s (hash %#x) in shard %d", v.target, h, i)
			}
		}
	}
	for _, target := range targets {
		if _, ok := owner[target]; !ok {
			t.Errorf("%s is in no shard", target)
		}
	}
}

func TestNeverTwoChecksInFlight(t *testing.T) {
	// Each check outlives its 20ms interval by far: the next one waits
	// for it, counted as deferred, instead of starting beside it.
	fake := newFakeChecker(50 * time.Millisecond)
	r, reg := newRunner(t, Options{Checker: fake})
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "20ms", "127.0.0.1:22", "[::1]:22"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "20 checks", func() bool { _, n := fake.stats(); return n >= 20 })
	if most, _ := fake.stats(); most != 1 {
		t.Errorf("at most %d checks of one address in flight, want 1", most)
	}
	if got := value(gather(t, reg), "synack_exporter_continuous_checks_deferred_total", nil); got == 0 {
		t.Error("no check counted as deferred, though each slot came while the previous check was out")
	}
}

func TestRateLimitDefers(t *testing.T) {
	// 20 targets every 50ms want 400 checks/s; the limit allows 100.
	const rate = 100
	fake := newFakeChecker(0)
	logs := &lockedBuffer{}
	r, reg := newRunner(t, Options{Checker: fake, MaxRate: rate, Logger: log.NewLogfmtLogger(logs)})
	var targets []string
	for i := range 20 {
		targets = append(targets, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}), 22).String())
	}
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "50ms", targets...))); err != nil {
		t.Fatal(err)
	}
	if want := `need=400 max_rate=100`; !strings.Contains(logs.String(), want) {
		t.Errorf("no warning with %s in the log:\n%s", want, logs.String())
	}
	from := time.Now()
	waitFor(t, 10*time.Second, "a second of checks", func() bool { return time.Since(from) > 1500*time.Millisecond })
	to := time.Now()
	// Measure a window after the start, from the first check to be safe.
	window := to.Sub(from.Add(500 * time.Millisecond))
	n := fake.startedBetween(from.Add(500*time.Millisecond), to)
	if limit := int(rate*window.Seconds()*1.2) + 2; n > limit {
		t.Errorf("%d checks started in %v, want at most %d at %d/s", n, window, limit, rate)
	}
	if n < int(rate*window.Seconds()*0.5) {
		t.Errorf("only %d checks started in %v at a limit of %d/s: deferred checks must still start", n, window, rate)
	}
	if got := value(gather(t, reg), "synack_exporter_continuous_checks_deferred_total", nil); got == 0 {
		t.Error("synack_exporter_continuous_checks_deferred_total is 0 at 4 times the limit")
	}
	// Deferred, not dropped: every target keeps getting checks.
	mfs := gather(t, reg)
	for _, target := range targets {
		if got := value(mfs, checksName, map[string]string{"target": target, "class": "open"}); got == 0 {
			t.Errorf("%s has no checks", target)
		}
	}
}

// TestRateLimitCountsResentSYNs: the rate limit counts the SYNs that
// leave, resends included: checks that each needed one resend start at
// half the rate of checks.
func TestRateLimitCountsResentSYNs(t *testing.T) {
	const rate = 100
	fake := newFakeChecker(0)
	fake.resends = 1
	r, _ := newRunner(t, Options{Checker: fake, MaxRate: rate, Logger: log.NewNopLogger()})
	var targets []string
	for i := range 20 {
		targets = append(targets, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(i + 1)}), 22).String())
	}
	// 20 targets every 100ms: 200 checks/s wanted, 400 SYNs/s.
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "100ms", targets...))); err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	waitFor(t, 10*time.Second, "two seconds of checks", func() bool { return time.Since(from) > 2500*time.Millisecond })
	window := time.Since(from.Add(500 * time.Millisecond))
	n := fake.startedBetween(from.Add(500*time.Millisecond), time.Now())
	// Two SYNs a check: at most rate/2 checks a second, with room for
	// the bucket's burst and a busy machine.
	if limit := int(rate/2*window.Seconds()*1.3) + 10; n > limit {
		t.Errorf("%d checks of two SYNs each started in %v, want at most %d at %d SYNs/s", n, window, limit, rate)
	}
	if n < int(rate/2*window.Seconds()*0.4) {
		t.Errorf("only %d checks started in %v: the limit must still let them go", n, window)
	}
}

// lockedBuffer is a log that tests read while the runner writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
