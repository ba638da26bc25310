// Package continuous checks configured targets on its own schedule, a
// TCP smokeping: each target of the config's `continuous:` groups gets
// one half-open check per interval, and what they find goes into
// counters and histograms on /metrics (docs/continuous.md).
//
// A target's life has one name per step: Apply, resolve, slot, start,
// finish.
//
//   - Apply (files.go, targets.go) turns the configuration and its
//     file_sd files into targets; a target whose module, host:port and
//     labels stay the same keeps its state and series across reloads.
//   - Resolve (resolve.go): names are looked up by a few resolver
//     goroutines, at most every resolve interval; IP literals once.
//     Addresses that a name stops resolving to keep their series for five
//     intervals.
//   - Slot (schedule.go): one goroutine keeps every target in a heap by
//     the instant it is due and sleeps on one timer. A target's slots are
//     fixed in time: its phase inside the interval comes from Hash, so
//     checks are spread over the interval and keep their phase across
//     restarts. At a slot each current address gets a check, unless its
//     previous one is still out: that one is owed and starts when the
//     previous ends. A token bucket (--continuous.max-rate) defers checks
//     beyond the rate, never drops them.
//   - Start: one starter goroutine per CPU calls BeginAddr, which sends
//     the SYN and hands the socket to the prober's loop; the budget,
//     min(module timeout, interval), is the check's context deadline.
//     There is no goroutine per target or per check.
//   - Finish: the prober calls back on its loop; counters are atomics,
//     and only the target's own lock is taken, to note that the address
//     is free again and to keep the sample for the landing page (ring.go,
//     landing.go); never the Runner's, which a reload holds for long.
//
// Metrics (metrics.go) are collected without a lock on the counters:
// label pairs are built once per series, and a scrape only copies
// values.
package continuous
