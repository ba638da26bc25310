// Command synack_exporter is a Prometheus exporter that checks whether TCP
// ports answer, with a half-open handshake (SYN, SYN-ACK, RST): one probe
// per /probe request (one check, or several with syn_count or addresses:
// all).
package main

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/seed-5ff58b3a/synack_exporter/collector"
	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/continuous"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

const name = "synack_exporter"

// defaultConfig is used when there is neither --config.file nor a
// config.yml in the working directory, so the binary runs with no files.
//
//go:embed config.yml
var defaultConfig []byte

func main() {
	var (
		configFile     = kingpin.Flag("config.file", "Module configuration file. Default: ./config.yml if it exists, else the copy built into the binary.").String()
		configCheck    = kingpin.Flag("config.check", "Validate the configuration, then exit: 0 if valid, 1 with every problem on stderr, one line each.").Bool()
		timeoutOffset  = kingpin.Flag("timeout-offset", "Subtracted from the scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) to get a probe's budget.").Default("0.5s").Duration()
		historyLimit   = kingpin.Flag("history.limit", "Recent successes, and separately recent failures, shown on the landing page.").Default("100").Uint()
		maxConcurrency = kingpin.Flag("probe.max-concurrency", "Checks (sockets) allowed in flight over all probes; a probe takes as many as its module can make, and beyond the limit fails at once with class local. Lowered to fit the file descriptor limit; 0 means as many as that allows.").Default("10000").Uint()
		maxConnections = kingpin.Flag("web.max-connections", "Open HTTP connections allowed; beyond it a new connection is closed at once. Lowered to a quarter of the file descriptor limit; 0 means that quarter.").Default("1000").Uint()
		logLevel       = kingpin.Flag("log.level", "Only log messages with the given severity or above: debug, info, warn, error. Probe lines are debug.").Default("info").Enum("debug", "info", "warn", "error")
		logFormat      = kingpin.Flag("log.format", "Output format of log messages: logfmt or json.").Default("logfmt").Enum("logfmt", "json")
		idleTimeout    = kingpin.Flag("web.idle-timeout", "How long a keep-alive connection may wait for its next request before the exporter closes it. Longer than common scrape intervals (15s to 2m), so that Prometheus reuses one connection from scrape to scrape, yet bounded, so that clients that go quiet do not hold connections.").Default("5m").Duration()
		externalURL    = kingpin.Flag("web.external-url", "The URL under which the exporter is reached, for example through a reverse proxy. Its path is the default of --web.route-prefix.").String()
		routePrefix    = kingpin.Flag("web.route-prefix", "Path prefix of every endpoint (/probe, /metrics, /, ...). Default: the path of --web.external-url, else none.").String()
		webFlags       = kingpinflag.AddFlags(kingpin.CommandLine, ":9847")
		contFlags      = addContinuousFlags()
	)
	kingpin.Version(version.Print(name))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()

	logger := newLogger(*logFormat, *logLevel)
	store := config.NewStore(config.ResolveSource(*configFile), defaultConfig)
	if *configCheck {
		if err := store.Reload(); err != nil {
			for _, line := range config.ErrorLines(err) {
				fmt.Fprintln(os.Stderr, line)
			}
			os.Exit(1)
		}
		if err := continuous.CheckFiles(store.Current()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: config is valid\n", store.Source())
		return
	}
	if *timeoutOffset < 0 {
		fatal(logger, "--timeout-offset must not be negative", *timeoutOffset)
	}
	if *idleTimeout <= 0 {
		fatal(logger, "--web.idle-timeout must be positive", *idleTimeout)
	}
	prefix, err := collector.RoutePrefix(*externalURL, *routePrefix)
	if err != nil {
		fatal(logger, "Error in the web flags", err)
	}
	continuousOpts, err := contFlags.options()
	if err != nil {
		fatal(logger, "Invalid flag", err)
	}

	// Before the first load, so that an early SIGHUP cannot kill the process.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)

	level.Info(logger).Log("msg", "Starting "+name, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())
	limits, err := collector.SizeLimits(int(*maxConcurrency), int(*maxConnections))
	if err != nil {
		fatal(logger, "Error reading the file descriptor limit", err)
	}
	level.Info(logger).Log("msg", "Sized to the file descriptor limit", "fd_limit", limits.FDs,
		"max_checks_in_flight", limits.Checks, "max_connections", limits.Connections)
	checker, err := prober.NewChecker()
	if err != nil {
		fatal(logger, "Error starting the prober", err)
	}
	level.Info(logger).Log("msg", "Started the prober", "exact_ack_count", checker.ExactACKs())
	// The runner of continuous mode exists from the start, idle without
	// targets, so that a reload can add some.
	var runner *continuous.Runner
	exporter := collector.New(collector.Options{
		Checker:        checker,
		Config:         store,
		Logger:         logger,
		DebugLog:       *logLevel == "debug",
		TimeoutOffset:  *timeoutOffset,
		HistoryLimit:   int(*historyLimit),
		MaxConcurrency: limits.Checks,
		Reloaded:       func(c *config.Config) error { return runner.Apply(c) },
		LandingSection: func() template.HTML { return runner.Landing() },
	})
	runner = startContinuous(continuousOpts, checker, exporter, logger)
	// A bad target file keeps the exporter up (its targets are not
	// checked); a bad configuration file at start does not.
	if err := exporter.Reload(); err != nil && store.Current() == nil {
		os.Exit(1) // Reload has logged the error
	}

	slogger := newSlogLogger(logger)
	server := &http.Server{
		Handler:           collector.UnderPrefix(exporter, prefix),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       *idleTimeout,
		// The server's own complaints, such as accept errors when out of
		// file descriptors, in the same format as every other line.
		ErrorLog: slog.NewLogLogger(slogger.Handler(), slog.LevelError),
	}
	collector.LimitConnections(server, limits.Connections)
	served := make(chan error, 1)
	go func() {
		served <- web.ListenAndServe(server, webFlags, slogger)
	}()

	for {
		select {
		case err := <-served:
			fatal(logger, "Error serving HTTP", err)
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				exporter.Reload() // logs, and keeps the old config on failure
				continue
			}
			level.Info(logger).Log("msg", "Shutting down: waiting for probes in flight", "signal", sig)
			shutdown(logger, server, exporter.MaxProbeTimeout()+time.Second)
			runner.Close()
			if err := checker.Close(); err != nil {
				level.Error(logger).Log("msg", "Error closing the prober", "err", err)
			}
			return
		}
	}
}

// shutdown stops accepting connections, closes idle ones and waits up to
// grace for the requests in flight (probes end within their own budget).
func shutdown(logger log.Logger, server *http.Server, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		level.Warn(logger).Log("msg", "Requests still running at shutdown", "err", err)
	}
}

// newLogger returns the process's logger. Exporter-toolkit logs through the
// same one, via a slog handler.
func newLogger(format, lvl string) log.Logger {
	w := log.NewSyncWriter(os.Stderr)
	logger := log.NewLogfmtLogger(w)
	if format == "json" {
		logger = log.NewJSONLogger(w)
	}
	// The timestamp goes inside the level filter, so that lines read
	// "ts=… level=…" like exporter-toolkit's and the rest of Prometheus.
	logger = log.With(logger, "ts", log.DefaultTimestampUTC)
	return level.NewFilter(logger, level.Allow(level.ParseDefault(lvl, level.InfoValue())))
}

// newSlogLogger hands exporter-toolkit, which logs with slog, the same
// logger: one format, one level filter.
func newSlogLogger(logger log.Logger) *slog.Logger {
	return slog.New(withoutSlogTime{sloggokit.NewGoKitHandler(logger, slog.LevelDebug)})
}

// withoutSlogTime drops slog's timestamp, which the bridge would log as
// "time" next to the go-kit logger's own "ts".
type withoutSlogTime struct{ slog.Handler }

func (h withoutSlogTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h withoutSlogTime) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutSlogTime{h.Handler.WithAttrs(attrs)}
}

func (h withoutSlogTime) WithGroup(name string) slog.Handler {
	return withoutSlogTime{h.Handler.WithGroup(name)}
}

func fatal(logger log.Logger, msg string, err any) {
	level.Error(logger).Log("msg", msg, "err", err)
	os.Exit(1)
}
