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
	// MaxConcurrency is how many checks (sockets) may be in flight at
	// once, over all probes; a probe takes as many as its module can
	// make (config.Module.Checks) for as long as it runs. 0 means no
	// limit.
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

	// inFlight counts the probes running, checks the check slots they
	// hold.
	inFlight atomic.Int64
	checks   atomic.Int64
	lastID   atomic.Uint64
	reloadMu sync.Mutex // keeps the reload gauges in step with the store
	// configFailed is set while the last load of the file failed; under
	// reloadMu.
	configFailed bool
}

// errConcurrency is the reason of a probe refused by --probe.max-concurrency.
var errConcurrency = errors.New("too many checks in flight (--probe.max-concurrency)")

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
	e.metrics = newSelfMetrics(e.registry, &e.inFlight, &e.checks)
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
	slots := module.Checks()
	if !e.acquire(slots) {
		return e.finishProbe(rec, logger, e.rejectConcurrency())
	}
	// Released once the probe is recorded: a probe no longer in flight
	// is in the history and the self-metrics.
	defer e.release(slots)
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
	return e.finishProbe(rec, logger, r)
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
	kept := s.WithoutResults()
	rec.Summary = &kept
	return standIn(&s)
}

// standIn is the one result whose details stand for several checks
// (address, mode, an ACK that any check let out): the first open one,
// else the worst (which, when no check was made, says why). What the
// probe came to is read from the summary, never from it (outcome.go).
func standIn(s *prober.Summary) prober.Result {
	r, ok := s.FirstOpenResult()
	if !ok {
		r = s.Worst
	}
	r.ACKs = uint32(s.ACKsSent)
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

// finishProbe completes rec with the check's result r and records it in
// the self-metrics, the log and the history. A result that a module's
// target lists refused (the Policy's error, a *config.TargetDeniedError,
// with no packet sent) is returned as the error instead, with nothing
// recorded.
func (e *Exporter) finishProbe(rec *probeRecord, logger log.Logger, r prober.Result) (*probeRecord, error) {
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

// acquire takes the check slots of a probe without waiting: beyond the
// limit a probe fails at once, since a queued probe would only run out
// of time.
func (e *Exporter) acquire(checks int) bool {
	n := e.checks.Add(int64(checks))
	if limit := int64(e.opts.MaxConcurrency); limit > 0 && n > limit {
		e.checks.Add(-int64(checks))
		return false
	}
	e.inFlight.Add(1)
	return true
}

func (e *Exporter) release(checks int) {
	e.inFlight.Add(-1)
	e.checks.Add(-int64(checks))
}

// probeLogger adds a probe's module and target to logger's lines. The
// level, added last, goes before them but after what logger itself adds
// (the timestamp): LoggerFunc keeps log.With from merging the two.
func probeLogger(logger log.Logger, rec *probeRecord) log.Logger {
	return log.With(log.LoggerFunc(logger.Log), "module", rec.Module, "target", rec.Target)
}

func logBegin(logger log.Logger, rec *probeRecord) {
	level.Debug(logger).Log("msg", "Beginning probe", "timeout", rec.Timeout)
}

// logResult logs the probe's outcome in one line, from the values its
// /probe metrics report: "Probe succeeded" only with probe_success 1;
// synack and rtt are probe_tcp_synack_seconds and probe_tcp_rtt_seconds
// (the medians with several checks), syn_retransmits their sum.
func logResult(logger log.Logger, rec *probeRecord) {
	r := rec.Result
	msg := "Probe failed"
	if rec.Succeeded() {
		msg = "Probe succeeded"
	}
	kv := []any{"msg", msg}
	if s := rec.Summary; s != nil {
		kv = append(kv, "checks", s.Checks, "open", s.Classes[prober.ClassOpen], "loss_ratio", s.LossRatio())
		if s.Plan.AllAddresses {
			kv = append(kv, "addresses_checked", len(s.Addresses), "addresses_open", s.AddressesOpen(),
				"addresses_denied", s.Denied, "addresses_cut", s.Cut)
		}
	} else {
		kv = append(kv, "class", r.Class)
	}
	if e := rec.expect(); e != prober.ExpectOpen {
		kv = append(kv, "expect", e)
	}
	if !rec.Succeeded() {
		f := rec.failedCheck()
		if rec.Summary != nil {
			kv = append(kv, "failed_class", f.Class, "failed_addr", f.Addr)
		}
		kv = append(kv, "errno", int(f.Errno))
		if f.Err != nil {
			kv = append(kv, "err", f.Err)
		}
	}
	kv = append(kv, "addr", rec.addr(), "mode", r.Mode, "dns", rec.dns())
	if synack, ok := rec.synack(); ok {
		kv = append(kv, "synack", synack, "rtt", rec.rtt())
	}
	kv = append(kv, "syn_retransmits", rec.synRetransmits(), "duration", rec.Duration)
	level.Debug(logger).Log(kv...)
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
	return r.ACKSent() && r.Mode == prober.ModeHalfOpen
}

// ackLeaks counts the ACKs that half-open checks of a probe let out
// before their RSTs, as the target saw them on the wire.
func ackLeaks(rec *probeRecord) int {
	switch {
	case !ackLeaked(rec.Result):
		return 0
	case rec.Summary != nil:
		return rec.Summary.ACKsSent
	}
	return int(rec.Result.ACKs)
}
