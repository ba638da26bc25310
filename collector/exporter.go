package collector

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Checker makes checks; *prober.Checker is the one used outside tests.
type Checker interface {
	// Check makes one check.
	Check(ctx context.Context, target string, opts prober.Options) prober.Result
	// CheckMany makes the several checks of a module with syn_count > 1
	// or addresses: all.
	CheckMany(ctx context.Context, target string, opts prober.Options, plan prober.Plan) prober.Summary
}

// Options configure an Exporter.
type Options struct {
	Checker Checker
	Config  *config.Store
	Logger  log.Logger // must be safe for concurrent use
	// DebugLog says that Logger keeps debug lines (--log.level=debug).
	// Without it a probe logs only its warnings, and skips building the
	// debug lines the logger would drop; ?debug=true and /logs render
	// them from the record either way.
	DebugLog bool
	// TimeoutOffset is subtracted from the scrape timeout to leave time
	// for the answer to travel back.
	TimeoutOffset time.Duration
	// HistoryLimit is how many successes, and separately how many
	// failures, the landing page keeps; 0 keeps none.
	HistoryLimit int
	// MaxConcurrency is how many probes may run at once; 0 means no limit.
	MaxConcurrency int
	// Reloaded, when set, is called with each configuration loaded
	// successfully (continuous mode applies its targets); an error it
	// returns marks the reload failed, and the configuration stays loaded.
	Reloaded func(*config.Config) error
	// LandingSection, when set, adds a section to the landing page.
	LandingSection func() template.HTML
}

// Exporter serves synack_exporter's HTTP surface.
type Exporter struct {
	opts     Options
	logger   log.Logger
	registry *prometheus.Registry
	metrics  *selfMetrics
	history  *history
	mux      *http.ServeMux

	inFlight atomic.Int64
	lastID   atomic.Uint64
	reloadMu sync.Mutex // keeps the reload gauges in step with the store
	// configFailed is set while the last load of the file failed; under
	// reloadMu.
	configFailed bool
}

// errConcurrency is the reason of a probe refused by --probe.max-concurrency.
var errConcurrency = errors.New("too many probes in flight (--probe.max-concurrency)")

// New returns an Exporter. It holds no configuration until Reload.
func New(opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	e := &Exporter{
		opts:     opts,
		logger:   opts.Logger,
		registry: prometheus.NewRegistry(),
		history:  newHistory(opts.HistoryLimit),
	}
	e.metrics = newSelfMetrics(e.registry, &e.inFlight)
	e.mux = e.routes()
	return e
}

// ServeHTTP routes a request to one of the exporter's pages.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

// Reload loads the configuration from its source again, keeping the old
// one on failure, and updates the reload gauges. SIGHUP and /-/reload both
// come here, as does the first load.
func (e *Exporter) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	source := e.opts.Config.Source()
	if err := e.opts.Config.Reload(); err != nil {
		e.configFailed = true
		e.metrics.reloadOK.Set(0)
		level.Error(e.logger).Log("msg", "Error loading config", "source", source, "err", err)
		return err
	}
	e.configFailed = false
	cfg := e.opts.Config.Current()
	for name := range cfg.Modules {
		e.metrics.initModule(name)
	}
	if e.opts.Reloaded != nil {
		if err := e.opts.Reloaded(cfg); err != nil {
			e.metrics.reloadOK.Set(0)
			level.Error(e.logger).Log("msg", "Error loading part of the config", "source", source, "err", err)
			return err
		}
	}
	e.metrics.reloadOK.Set(1)
	e.metrics.reloadTime.SetToCurrentTime()
	level.Info(e.logger).Log("msg", "Loaded config", "source", source, "modules", len(cfg.Modules))
	return nil
}

// MaxProbeTimeout is the longest budget a probe can get under the current
// configuration: how long a graceful shutdown should wait for probes.
func (e *Exporter) MaxProbeTimeout() time.Duration {
	var longest time.Duration
	for _, m := range e.opts.Config.Current().Modules {
		longest = max(longest, probeTimeout(maxScrapeTimeout, e.opts.TimeoutOffset, time.Duration(m.Timeout)))
	}
	return longest
}

// probe runs one check and records it: self-metrics, history, log. A
// target that the module's target lists refuse is an error, with nothing
// recorded.
func (e *Exporter) probe(ctx context.Context, req probeRequest, module config.Module, timeout time.Duration) (*probeRecord, error) {
	rec, logger := e.newRecord(req, module, timeout)
	if !e.acquire() {
		return e.settle(rec, logger, e.rejectConcurrency())
	}
	// The budget goes with the options rather than as a context
	// deadline: a check answered at once then starts no timer.
	opts := module.ProbeOptions()
	opts.Timeout = timeout
	var r prober.Result
	if module.SeveralChecks() {
		r = e.checkMany(ctx, rec, opts, module.Plan())
	} else {
		r = e.opts.Checker.Check(ctx, req.Target, opts)
	}
	e.release()
	return e.settle(rec, logger, r)
}

// checkMany makes a module's several checks and keeps their summary in
// rec. It is a function of its own, not inlined, so that the summary's
// room is not part of probe's stack frame: a single check waits for its
// answer below that frame, and a goroutine that waits with more than
// 8 kB of stack has 16 kB for the rest of its life (bench/run.sh's
// in-flight scenario measures it).
//
//go:noinline
func (e *Exporter) checkMany(ctx context.Context, rec *probeRecord, opts prober.Options, plan prober.Plan) prober.Result {
	s := e.opts.Checker.CheckMany(ctx, rec.Target, opts, plan)
	rec.Summary = &s
	return standIn(&s)
}

// standIn is the one result that stands for several checks in the log,
// the history and the self-metrics: the first open one, else the worst
// (which, when no check was made, says why), with an ACK that any check
// let out.
func standIn(s *prober.Summary) prober.Result {
	r, ok := s.FirstOpenResult()
	if !ok {
		r = s.Worst
	}
	r.ACKSent = s.ACKSent
	return r
}

// newRecord starts the record of a probe and, with Options.DebugLog,
// logs its beginning through the logger it returns (nil without).
func (e *Exporter) newRecord(req probeRequest, module config.Module, timeout time.Duration) (*probeRecord, log.Logger) {
	rec := &probeRecord{
		ID:      e.lastID.Add(1),
		Start:   time.Now(),
		Module:  req.Module,
		Config:  module,
		Target:  req.Target,
		Timeout: timeout,
	}
	if !e.opts.DebugLog {
		return rec, nil
	}
	logger := probeLogger(e.logger, rec)
	logBegin(logger, rec)
	return rec, logger
}

// settle completes rec with the check's result r and records it. A result
// that a module's target lists refused (the Policy's error, a
// *config.TargetDeniedError, with no packet sent) is returned as the
// error instead, with nothing recorded.
func (e *Exporter) settle(rec *probeRecord, logger log.Logger, r prober.Result) (*probeRecord, error) {
	if errors.Is(r.Err, prober.ErrDenied) {
		return nil, r.Err
	}
	rec.Result = r
	rec.Duration = time.Since(rec.Start)
	if logger != nil {
		logResult(logger, rec)
	} else if ackLeaked(r) {
		logACKLeak(probeLogger(e.logger, rec), rec)
	}
	e.metrics.observe(rec)
	e.history.add(rec)
	return rec, nil
}

// rejectConcurrency is the result of a probe beyond --probe.max-concurrency.
func (e *Exporter) rejectConcurrency() prober.Result {
	e.metrics.rejected.WithLabelValues(reasonConcurrency).Inc()
	return prober.Result{Class: prober.ClassLocal, Errno: syscall.EAGAIN, Err: errConcurrency}
}

// acquire takes a slot for a probe without waiting: beyond the limit a
// probe fails at once, since a queued probe would only run out of time.
func (e *Exporter) acquire() bool {
	n := e.inFlight.Add(1)
	if limit := int64(e.opts.MaxConcurrency); limit > 0 && n > limit {
		e.inFlight.Add(-1)
		return false
	}
	return true
}

func (e *Exporter) release() { e.inFlight.Add(-1) }

// probeLogger adds a probe's module and target to logger's lines. The
// level, added last, goes before them but after what logger itself adds
// (the timestamp): LoggerFunc keeps log.With from merging the two.
func probeLogger(logger log.Logger, rec *probeRecord) log.Logger {
	return log.With(log.LoggerFunc(logger.Log), "module", rec.Module, "target", rec.Target)
}

func logBegin(logger log.Logger, rec *probeRecord) {
	level.Debug(logger).Log("msg", "Beginning probe", "timeout", rec.Timeout)
}

func logResult(logger log.Logger, rec *probeRecord) {
	r := rec.Result
	if r.Success() {
		level.Debug(logger).Log("msg", "Probe succeeded", "addr", r.Addr, "mode", r.Mode,
			"dns", r.DNS, "synack", r.SYNACK, "rtt", r.RTT, "syn_retransmits", r.SYNRetransmits,
			"duration", rec.Duration)
	} else {
		level.Debug(logger).Log("msg", "Probe failed", "class", r.Class, "errno", int(r.Errno),
			"err", r.Err, "addr", r.Addr, "mode", r.Mode, "dns", r.DNS,
			"syn_retransmits", r.SYNRetransmits, "duration", rec.Duration)
	}
	if s := rec.Summary; s != nil {
		level.Debug(logger).Log("msg", "Checks summed up", "success", s.Success, "syns_sent", len(s.Results),
			"open", s.Classes[prober.ClassOpen], "lost", s.Lost, "addresses_checked", len(s.Addresses),
			"addresses_denied", len(s.Denied), "addresses_cut", s.Cut, "worst_class", s.Worst.Class)
	}
	if ackLeaked(r) {
		logACKLeak(logger, rec)
	}
}

func logACKLeak(logger log.Logger, rec *probeRecord) {
	level.Warn(logger).Log("msg", "An ACK left before the RST: the target saw a completed connection",
		"addr", rec.Result.Addr, "mode", rec.Result.Mode)
}

// writeLog writes the lines the probe logged, at every level, as logfmt,
// stamped with the probe's start and end. Rendering them from the record
// when someone asks, rather than formatting every probe's lines into a
// buffer as it runs, keeps the cost off probes nobody looks at.
func (rec *probeRecord) writeLog(w io.Writer) {
	at := func(t time.Time) log.Logger {
		stamp := log.TimestampFormat(func() time.Time { return t.UTC() }, time.RFC3339Nano)
		return probeLogger(log.With(log.NewLogfmtLogger(w), "ts", stamp), rec)
	}
	logBegin(at(rec.Start), rec)
	logResult(at(rec.Start.Add(rec.Duration)), rec)
}

// ackLeaked reports a half-open check after which the target saw a
// completed connection. A full connect (the non-Linux fallback) sends the
// ACK by design.
func ackLeaked(r prober.Result) bool {
	return r.ACKSent && r.Mode == prober.ModeHalfOpen
}

// ackLeaks counts the half-open checks of a probe after which the target
// saw a completed connection: one per check that let its ACK out, so that
// the count matches the ACKs on the wire when a probe makes several.
func ackLeaks(rec *probeRecord) int {
	switch {
	case !ackLeaked(rec.Result):
		return 0
	case rec.Summary != nil:
		return rec.Summary.ACKsSent
	}
	return 1
}
