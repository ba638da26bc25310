package prober

import (
	"time"

	"golang.org/x/sys/unix"
)

// This file owns the sweeper, the backstop of the wait and the loop
// against a starved scheduler. The netpoller is polled when a P runs out
// of work, or by sysmon after 10 ms, and a goroutine it readies then may
// wait at the back of the global run queue; behind a burst of HTTP
// requests that can take longer than the kernel's 200 ms delayed ACK. A
// timer's function instead runs from the P that fires it. So while checks
// are pending, every sweepInterval the sweeper takes whatever answers are
// in itself and sends the RSTs.

// sweepInterval bounds how long a SYN-ACK waits for its RST when its
// waiter or the loop cannot run: well under the 200 ms delayed ACK, with
// room for the timer itself to be late on a starved machine, and rare
// enough to cost next to nothing (it runs only while checks are pending).
const sweepInterval = 20 * time.Millisecond

// watch puts a waiting check w in the engine's map for the sweeper, which
// adds its socket to the backstop when it next runs (see sweep): a check
// that ends before then, as nearly all do, never costs an epoll_ctl, nor
// its close the work of leaving a second instance.
func (e *epollEngine) watch(w *waiting) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	token, err := e.track()
	if err != nil {
		return err
	}
	w.token = token
	e.waiting[token] = w
	e.unwatched = append(e.unwatched, w)
	return nil
}

// sweep takes the answers that are in, from both epoll instances.
//
// Waiting checks enter the backstop here, the first time the sweeper runs
// while they wait: an answer that came before is reported by the
// epoll_ctl itself, so it is taken in this same sweep. A check that has
// ended meanwhile has its file closed, or being closed: its Control
// fails or holds off the close until epoll_ctl has returned, so the
// sweeper never touches a number that is someone else's.
func (e *epollEngine) sweep() {
	e.sweeping.Lock()
	defer e.sweeping.Unlock()
	e.mu.Lock()
	unwatched := e.unwatched
	e.unwatched = nil
	e.mu.Unlock()
	for _, w := range unwatched {
		raw, _ := w.file.SyscallConn()
		_ = raw.Control(func(fd uintptr) {
			_ = ctl(e.backstopRaw, unix.EPOLL_CTL_ADD, int(fd), unix.EPOLLOUT|unix.EPOLLONESHOT, w.token)
		})
	}
	var d drainer
	// An error here is the loop's to act on: it sees the same fd.
	_ = e.raw.Control(func(epfd uintptr) { _, _ = e.drain(&d, int(epfd), e.takeBegun) })
	_ = e.backstopRaw.Control(func(epfd uintptr) { _, _ = e.drain(&d, int(epfd), e.takeWaiting) })
	e.mu.Lock()
	e.armed = e.pending() > 0
	if e.armed {
		e.sweeper.Reset(sweepInterval)
	}
	e.mu.Unlock()
}

// takeWaiting removes the waiting check with token from its waiter; mu
// is held. The waiter, which must take mu to remove it itself, then
// finds it gone and waits on taken for the answer.
func (e *epollEngine) takeWaiting(token uint64) (finisher, bool) {
	w, ok := remove(e.waiting, token)
	if ok {
		w.taken.Lock()
	}
	return w, ok
}
