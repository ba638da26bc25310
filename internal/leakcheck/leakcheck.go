// Package leakcheck counts what a test must give back: file descriptors
// and goroutines.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// OpenFDs counts this process's open file descriptors (Linux /proc).
func OpenFDs(t testing.TB) int {
	t.Helper()
	return countFDs(t, "/proc/self/fd")
}

// ProcessFDs counts the open file descriptors of process pid, such as a
// binary the test started (Linux /proc).
func ProcessFDs(t testing.TB, pid int) int {
	t.Helper()
	return countFDs(t, fmt.Sprintf("/proc/%d/fd", pid))
}

func countFDs(t testing.TB, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// WaitBaseline polls until fds and goroutines are back to at most the
// given counts, failing t after d. Both settle asynchronously once the
// last result is delivered, so a single look would race.
func WaitBaseline(t testing.TB, fds, goroutines int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, g := OpenFDs(t), runtime.NumGoroutine()
		if f <= fds && g <= goroutines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back to baseline: fds %d (was %d), goroutines %d (was %d)", f, fds, g, goroutines)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
