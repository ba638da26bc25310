package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	var (
		synack      = flag.String("synack", "./synack_exporter", "synack_exporter binary")
		blackbox    = flag.String("blackbox", "/usr/bin/prometheus-blackbox-exporter", "blackbox_exporter binary")
		command     = flag.String("command", "", "how this run was started, for the report (default: the bench's own command line)")
		scenarios   = flag.String("scenarios", "throughput,paced,paced-peer,inflight,accuracy", "scenarios to run, comma-separated")
		rounds      = flag.Int("rounds", 5, "throughput and paced: rounds; each measures every server, in alternating order")
		duration    = flag.Duration("duration", 6*time.Second, "throughput: length of each measured run")
		warmup      = flag.Duration("warmup", 2*time.Second, "throughput and paced: unmeasured load before each run")
		concurrency = flag.Int("concurrency", 32, "throughput: requests in flight")
		targets     = flag.Int("paced-targets", 2000, "paced: targets per server, each scraped once per interval")
		interval    = flag.Duration("paced-interval", 5*time.Second, "paced: scrape interval")
		pacedDelay  = flag.Duration("paced-delay", time.Millisecond, "paced-peer: how long the fake peer takes to answer a SYN")
		pacedConns  = flag.Int("paced-conns", 16, "paced: keep-alive connections the requests are spread over")
		pacedDur    = flag.Duration("paced-duration", 15*time.Second, "paced: length of each measured run")
		perfDir     = flag.String("perf", "", "paced: perf record each measured run into this directory (profiling runs only: perf takes CPU too)")
		inflight    = flag.Int("inflight", 10000, "in-flight: probes at once against the silent target")
		inflightR   = flag.Int("inflight-rounds", 2, "in-flight: rounds; each measures every server")
		rate        = flag.Int("rate", 1000, "accuracy: exporter probes per second")
		bareRate    = flag.Int("bare-rate", 200, "accuracy: bare-syscall probes per second, at the same time")
		accDuration = flag.Duration("accuracy-duration", 10*time.Second, "accuracy: length of each run per delay")
		smokeping   = flag.String("smokeping", "/usr/bin/prometheus-smokeping-prober", "continuous: smokeping_prober binary")
		prometheus  = flag.String("prometheus", "/usr/bin/prometheus", "continuous: Prometheus binary for scrape_duration_seconds at the largest size (empty: skip); continuous-accuracy: the two Prometheus servers")
		contSizes   = flag.String("continuous-targets", "100,1000,10000", "continuous: synack_exporter and floor target counts, comma-separated (empty: none)")
		pingSizes   = flag.String("smokeping-hosts", "100,1000", "continuous: smokeping_prober host counts, comma-separated (empty: none)")
		contIntv    = flag.Duration("continuous-interval", time.Second, "continuous: each target's check interval")
		contWarmup  = flag.Duration("continuous-warmup", 5*time.Second, "continuous: unmeasured time after each start")
		contDur     = flag.Duration("continuous-duration", 20*time.Second, "continuous: length of each measured window")
		contNoSyn   = flag.Bool("continuous-no-synack", false, "continuous: measure the floor and smokeping_prober only")
		accTargets  = flag.Int("contacc-targets", 20, "continuous-accuracy: targets (ports of one fake peer) per delay")
		accIntv     = flag.Duration("contacc-interval", 100*time.Millisecond, "continuous-accuracy: each target's check interval")
		accWarmup   = flag.Duration("contacc-warmup", 10*time.Second, "continuous-accuracy: unmeasured time after Prometheus starts")
		accDur      = flag.Duration("contacc-duration", time.Minute, "continuous-accuracy: the window W the quantiles are taken over (whole seconds)")
		floorServer = flag.Bool(floorServerFlag, false, "internal: be the floor server; argument: listen address")
		bareChild   = flag.Bool(bareChildFlag, false, "internal: be scenario 3's bare-syscall child; arguments: target rate duration")
		contFloor   = flag.Bool(continuousFloorFlag, false, "internal: be the continuous scenario's floor; arguments: targets interval warmup duration")
	)
	flag.Parse()
	if *floorServer || *bareChild || *contFloor {
		child := floorServerMain
		switch {
		case *bareChild:
			child = bareChildMain
		case *contFloor:
			child = continuousFloorMain
		}
		if err := child(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("needs root: network namespaces, nftables and TUN"))
	}
	dir, err := os.MkdirTemp("", "synack-bench-")
	if err != nil {
		fatal(err)
	}
	workDir = dir
	defer os.RemoveAll(dir)
	// Stop the exporters on ^C too; Pdeathsig covers a bench killed hard.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		stopAll()
		os.RemoveAll(workDir)
		os.Exit(130)
	}()

	out := os.Stdout
	if *command == "" {
		*command = strings.Join(os.Args, " ")
	}
	fmt.Fprintf(out, "# synack_exporter beside the floor and blackbox_exporter\n\n%s\n", machine(*synack, *blackbox, *command))
	for _, s := range strings.Split(*scenarios, ",") {
		switch s {
		case "throughput":
			err = runThroughput(throughputOptions{
				synack: *synack, blackbox: *blackbox, rounds: *rounds,
				duration: *duration, warmup: *warmup, concurrency: *concurrency, dir: dir,
			}, out)
		case "paced", "paced-peer":
			o := pacedOptions{
				synack: *synack, blackbox: *blackbox, rounds: *rounds, targets: *targets, interval: *interval,
				conns: *pacedConns, duration: *pacedDur, warmup: *warmup, dir: dir, perfDir: *perfDir,
			}
			if s == "paced-peer" {
				o.delay = *pacedDelay
			}
			err = runPaced(o, out)
		case "inflight":
			err = runInflight(inflightOptions{
				synack: *synack, blackbox: *blackbox, probes: *inflight, rounds: *inflightR,
				budget: 10 * time.Second, scrape: 12 * time.Second, dir: dir,
			}, out)
		case "accuracy":
			err = runAccuracy(accuracyOptions{
				synack: *synack, rate: *rate, bareRate: *bareRate, duration: *accDuration,
				delays: []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond}, dir: dir,
			}, out)
		case "continuous":
			o := continuousOptions{synack: *synack, smokeping: *smokeping, prometheus: *prometheus, interval: *contIntv,
				warmup: *contWarmup, duration: *contDur, noSynack: *contNoSyn, dir: dir}
			if o.sizes, err = parseSizes(*contSizes); err == nil {
				o.pingSizes, err = parseSizes(*pingSizes)
			}
			if err == nil {
				err = runContinuous(o, out)
			}
		case "continuous-accuracy": // not in the default list: needs Prometheus, takes 1.5 minutes
			err = runContinuousAccuracy(contAccOptions{synack: *synack, prometheus: *prometheus, targets: *accTargets,
				interval: *accIntv, warmup: *accWarmup, duration: *accDur, dir: dir}, out)
		default:
			err = fmt.Errorf("unknown scenario %q", s)
		}
		stopAll()
		if err != nil {
			fatal(fmt.Errorf("%s: %w", s, err))
		}
	}
	fmt.Fprintf(out, "Load average at the end: %s.\n", loadAverage())
}

// machine describes where the figures come from.
func machine(synack, blackbox, command string) string {
	var u unix.Utsname
	unix.Uname(&u)
	return fmt.Sprintf("- machine: %d CPUs (%s), Linux %s, load average at the start: %s\n- Go: %s\n- synack_exporter: %s\n- blackbox_exporter: %s\n- command: %s\n",
		runtime.NumCPU(), cpuModel(), unix.ByteSliceToString(u.Release[:]), loadAverage(), runtime.Version(),
		firstLine(synack, "--version"), firstLine(blackbox, "--version"), command)
}

// loadAverage is the 1, 5 and 15 minute load: other work on the machine
// is the main source of noise.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// workDir holds the exporters' configuration files; fatal removes it.
var workDir string

func fatal(err error) {
	stopAll()
	if workDir != "" {
		os.RemoveAll(workDir)
	}
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// firstLine is the first line a command prints, or why it printed none.
func firstLine(args ...string) string {
	b, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return err.Error()
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// parseSizes reads a comma-separated list of counts; empty is none.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}
