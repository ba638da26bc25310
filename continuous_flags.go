package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/seed-5ff58b3a/synack_exporter/collector"
	"github.com/seed-5ff58b3a/synack_exporter/continuous"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// continuousFlags are the flags of continuous mode (docs/continuous.md).
type continuousFlags struct {
	resolveInterval *time.Duration
	maxRate         *float64
	shard           *string
	buckets         *string
}

func addContinuousFlags() continuousFlags {
	return continuousFlags{
		resolveInterval: kingpin.Flag("continuous.resolve-interval", "How often continuous mode resolves each target's name again.").Default("30s").Duration(),
		maxRate:         kingpin.Flag("continuous.max-rate", "SYNs continuous checks send per second at most, all targets together, the kernel's resends included; beyond it checks start later (counted in synack_exporter_continuous_checks_deferred_total), never dropped. 0 means no limit.").Default("1000").Float64(),
		shard:           kingpin.Flag("continuous.shard", "I/N: check only the continuous targets whose hash mod N is I, so N exporters with the same configuration split the targets. Empty checks all.").Default("").String(),
		buckets:         kingpin.Flag("continuous.buckets", "Classic buckets of synack_response_duration_seconds, in seconds, comma-separated; empty for a native histogram only.").Default(continuous.FormatBuckets(continuous.DefaultBuckets)).String(),
	}
}

// options checks the flags and returns the runner's options from them;
// each error names its flag.
func (f continuousFlags) options() (continuous.Options, error) {
	var opts continuous.Options
	shard, err := continuous.ParseShard(*f.shard)
	if err != nil {
		return opts, fmt.Errorf("--continuous.shard: %w", err)
	}
	buckets, err := continuous.ParseBuckets(*f.buckets)
	if err != nil {
		return opts, fmt.Errorf("--continuous.buckets: %w", err)
	}
	switch {
	case *f.resolveInterval <= 0:
		return opts, errors.New("--continuous.resolve-interval must be positive")
	case *f.maxRate < 0:
		return opts, errors.New("--continuous.max-rate must not be negative")
	}
	maxRate := *f.maxRate
	if maxRate == 0 {
		maxRate = -1 // Options' way of saying no limit
	}
	return continuous.Options{
		ResolveInterval: *f.resolveInterval,
		MaxRate:         maxRate,
		Shard:           shard,
		Histogram:       continuous.HistogramOptions{Buckets: buckets},
	}, nil
}

// startContinuous starts the runner of continuous mode, with the
// exporter's registry, ACK leak counter and reload gauge.
func startContinuous(opts continuous.Options, checker *prober.Checker, exporter *collector.Exporter, logger log.Logger) *continuous.Runner {
	opts.Checker = checker
	opts.Logger = log.With(logger, "component", "continuous")
	opts.Registerer = exporter.Registerer()
	opts.ACKLeaks = exporter.ACKLeaks()
	opts.ReportFiles = exporter.ReportPartReload
	return continuous.New(opts)
}
