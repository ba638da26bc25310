package continuous

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Checker is what a Runner needs of *prober.Checker.
type Checker interface {
	// Addresses resolves a target once per resolve interval.
	Addresses(ctx context.Context, target string, opts prober.Options, plan prober.Plan) ([]netip.AddrPort, time.Duration, prober.Result)
	// BeginAddr starts a check; done must not block.
	BeginAddr(ctx context.Context, addr netip.AddrPort, opts prober.Options, done func(prober.Result)) (prober.Result, bool)
}

var _ Checker = (*prober.Checker)(nil)

// Options configure a Runner. Zero values mean the defaults of the
// flags.
type Options struct {
	Checker Checker
	Logger  log.Logger
	// Registerer gets the metrics; required.
	Registerer prometheus.Registerer
	// ACKLeaks is the exporter's synack_exporter_ack_leaks_total, which
	// continuous checks add to.
	ACKLeaks prometheus.Counter
	// ResolveInterval is how often names are resolved again
	// (--continuous.resolve-interval, default 30s).
	ResolveInterval time.Duration
	// MaxRate caps the checks started per second, all targets together
	// (--continuous.max-rate, default 1000); negative means no limit.
	MaxRate float64
	// Shard keeps a share of the targets (--continuous.shard).
	Shard Shard
	// Histogram says which classic buckets the SYN-ACK histogram has.
	Histogram HistogramOptions
	// Resolvers is how many names are resolved at once (default 8).
	Resolvers int
	// ReportFiles, when set, hears of each re-read of changed files:
	// nil when all were good, else what was wrong (the targets of a bad
	// file stay as they were). main sets the reload gauge with it.
	ReportFiles func(error)
}

// Defaults of Options.
const (
	DefaultResolveInterval = 30 * time.Second
	DefaultMaxRate         = 1000
	defaultResolvers       = 8
	// goneIntervals is how long an address that a name no longer
	// resolves to keeps its series: this many of its target's intervals.
	goneIntervals = 5
)

// Runner checks the configured targets on its schedule. One goroutine
// schedules every check, one per CPU starts them, a few resolve names;
// checks wait for their answers in the prober's loop, with no goroutine
// of their own.
type Runner struct {
	opts    Options
	logger  log.Logger
	metrics *selfMetrics

	ctx    context.Context // ends every check on Close
	cancel context.CancelFunc

	mu      sync.Mutex
	targets map[targetKey]*target
	due     dueHeap
	// owed are addresses whose slot came while their previous check was
	// in flight; they start as soon as it ends. owedSpare is the
	// scheduler's other buffer for them.
	owedMu    sync.Mutex
	owed      []*address
	owedSpare []*address
	bucket    tokenBucket
	// resent counts the SYNs the kernel re-sent for ended checks since
	// the scheduler last charged them to bucket: the rate limit counts
	// the SYNs that leave, not only the checks started.
	resent atomic.Int64
	// lastRefusal is when the rate limit last held a check back.
	lastRefusal time.Time
	closed      bool

	// applyMu orders Apply and the file poll; it is taken before mu.
	applyMu     sync.Mutex
	cfg         *config.Config
	files       fileCache
	lastFileErr string

	wake     chan struct{}
	startQ   chan start
	resolveQ chan *target
	stopped  sync.WaitGroup
}

// New starts a Runner with no targets; Apply gives it some.
func New(opts Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.ResolveInterval <= 0 {
		opts.ResolveInterval = DefaultResolveInterval
	}
	if opts.MaxRate == 0 {
		opts.MaxRate = DefaultMaxRate
	}
	if opts.Resolvers <= 0 {
		opts.Resolvers = defaultResolvers
	}
	r := &Runner{
		opts:     opts,
		logger:   opts.Logger,
		targets:  map[targetKey]*target{},
		bucket:   newTokenBucket(opts.MaxRate),
		wake:     make(chan struct{}, 1),
		startQ:   make(chan start, 256),
		resolveQ: make(chan *target, 4096),
		files:    fileCache{files: map[string]*targetFile{}},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.metrics = newSelfMetrics(opts.Registerer, opts.ACKLeaks)
	opts.Registerer.MustRegister(seriesCollector{r})
	starters := runtime.GOMAXPROCS(0)
	r.stopped.Add(2 + opts.Resolvers + starters)
	go r.schedule()
	go r.pollFiles()
	for range starters {
		go r.starter()
	}
	for range opts.Resolvers {
		go r.resolveLoop()
	}
	return r
}

// Close stops scheduling and resolving, ends the checks in flight and
// waits for the goroutines. Checks ended by Close are not counted.
func (r *Runner) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	close(r.resolveQ)
	r.poke()
	r.stopped.Wait()
}

// poke wakes the scheduler without waiting.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// ParseBuckets reads --continuous.buckets: comma-separated upper bounds
// in seconds, increasing; "" means none (a native histogram only).
func ParseBuckets(s string) ([]float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		switch {
		case err != nil:
			return nil, fmt.Errorf("bucket %q is not a number", strings.TrimSpace(f))
		case isNaNOrInf(v) || v <= 0:
			return nil, fmt.Errorf("bucket %q: want a positive number of seconds", strings.TrimSpace(f))
		case len(out) > 0 && v <= out[len(out)-1]:
			return nil, errors.New("buckets must increase")
		}
		out = append(out, v)
	}
	return out, nil
}

// FormatBuckets is the flag's form of buckets, for its default.
func FormatBuckets(buckets []float64) string {
	parts := make([]string, len(buckets))
	for i, b := range buckets {
		parts[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}
