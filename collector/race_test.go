//go:build race

package collector

// raceEnabled says that the tests run under the race detector.
const raceEnabled = true
