package prober

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"
)

// This file owns the wait: a single check (Check) waits for its own
// socket in Go's netpoller, in the caller's goroutine, as a goroutine
// waits to read a socket. No other goroutine takes part unless the
// scheduler keeps the caller from running: then the sweeper takes the
// answer and leaves it here.

// waiting is a check whose caller waits for its socket in the
// netpoller. The socket (file) is the waiter's to close. Whoever removes
// the check from epollEngine.waiting owns its end: the waiter itself, or
// the sweeper or shutdown, which hold taken from the moment they remove
// it until they have put the answer in result.
type waiting struct {
	socket
	token  uint64
	file   *os.File
	taken  sync.Mutex
	result Result
}

// check makes a check and waits for its answer in the caller's own
// goroutine, which Go's netpoller wakes when the socket has one, as it
// wakes a goroutine reading a socket: no other goroutine takes part.
func (e *epollEngine) check(ctx context.Context, deadline time.Time, addr netip.AddrPort, opts Options) (r Result) {
	defer func() { r.Addr = addr }()
	if r, refused := refuse(ctx, addr); refused {
		return r
	}
	s, r, answered := e.send(ctx, addr, opts)
	if answered {
		return r
	}
	return e.wait(ctx, deadline, s)
}

// wait waits for a sent check's answer until ctx ends or deadline
// (unless zero) passes; it owns s's fd and closes it. The deadline is the
// netpoller's own, and a context that can end is watched with AfterFunc:
// neither costs a goroutine or a wake-up while the check waits. The
// socket is also watched by the sweeper, in case the wake-up comes too
// late.
func (e *epollEngine) wait(ctx context.Context, deadline time.Time, s socket) (r Result) {
	w := &waiting{socket: s, file: os.NewFile(uintptr(s.fd), "check")} // non-blocking: in the netpoller
	// The reset and close; every return below comes after the answer
	// was judged.
	defer func() { r = s.end(r, func() { w.file.Close() }) }()
	if err := e.watch(w); err != nil {
		return failure(ClassLocal, err)
	}
	if !deadline.IsZero() {
		w.file.SetWriteDeadline(deadline)
	}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { w.file.SetWriteDeadline(longAgo) })
	}
	raw, _ := w.file.SyscallConn()
	// Write calls the function at once and returns if it says so; else
	// it waits until the netpoller reports the socket writable, which a
	// connecting socket becomes only when connect() has ended (answered,
	// refused or failed), and calls it again. send looked just now, so
	// the first call does not; an answer since then is in the netpoller
	// from the moment the socket is added.
	var at time.Time
	werr := raw.Write(func(uintptr) bool {
		if at.IsZero() {
			at = s.sent
			return false
		}
		at = time.Now()
		return true
	})
	stop()
	testHookWoken()
	testHookTaking()
	e.mu.Lock()
	_, mine := remove(e.waiting, w.token)
	e.mu.Unlock()
	if !mine {
		// The sweeper or shutdown took it, and leaves the answer.
		w.taken.Lock()
		defer w.taken.Unlock()
		return w.result
	}
	switch {
	case werr == nil:
		r, _ = judge(s, at, woke)
	case ctx.Err() != nil:
		r, _ = judge(s, time.Now(), contextFailure(ctx.Err()))
	case errors.Is(werr, os.ErrDeadlineExceeded):
		r, _ = judge(s, time.Now(), contextFailure(context.DeadlineExceeded))
	default:
		r, _ = judge(s, time.Now(), failure(ClassOther, werr))
	}
	return r
}

// finish ends w for an owner other than its waiter (the sweeper,
// shutdown), which removed it and holds taken: the answer is left in
// result, and the waiter woken. The socket is the waiter's to close, so
// an answered one is reset at once with disconnect.
func (w *waiting) finish(now time.Time, otherwise Result) {
	w.result, _ = judge(w.socket, now, otherwise)
	if w.result.Class == ClassOpen {
		w.result = w.end(w.result, func() { disconnect(w.fd) })
	}
	w.taken.Unlock()
	w.file.SetWriteDeadline(longAgo)
}

// longAgo is a deadline that has passed: setting it wakes a waiter.
var longAgo = time.Unix(1, 0)
