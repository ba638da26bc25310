//go:build !linux

package collector

import "errors"

// Elsewhere connections are not parked: newWatcher always fails, and
// /probe keeps each request's goroutine until its probe ends.

const (
	watchHangUp   = 0
	watchRequest  = 0
	watchReadable = 0
)

// errNoWatcher is newWatcher's error where connections cannot be watched.
var errNoWatcher = errors.New("parking connections is only supported on Linux")

type watcher struct{}

func newWatcher() (*watcher, error) { return nil, errNoWatcher }

func (*watcher) add(*parkedConn, uint32, func(uint32)) error { return errNoWatcher }
func (*watcher) remove(*parkedConn)                          {}
func (*watcher) closeIdle()                                  {}
func (*watcher) idleConns() int                              { return 0 }
func (*watcher) close()                                      {}
