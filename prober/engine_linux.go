package prober

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// This file owns the engine's state: its two epoll instances, the maps
// of pending checks and their tokens, and its end (close, shutdown). The
// steps of a check live beside it: socket_linux.go (send), wait_linux.go
// (wait), loop_linux.go (begin), sweeper_linux.go (sweep),
// verdict_linux.go (judge), reset_linux.go (reset).

const mode = ModeHalfOpen

// Check tokens start at 1, so that a zeroed event never matches one.
const firstToken = 1

// epollEngine runs every check of a Checker. Pending checks are keyed by
// a token that is never reused, not by fd number: a check that timed out
// closes its fd, and the next socket may get the same number while an
// event for the old one is still in a batch.
type epollEngine struct {
	// epoll is the loop's epoll instance, non-blocking, in Go's own
	// netpoller: the loop waits for its readiness as a socket's reader
	// would, so no thread blocks in a syscall for the engine. Every use
	// of its fd goes through epoll's Read or Control, which keep it open
	// meanwhile; closing it ends the loop.
	epoll *os.File
	raw   syscall.RawConn
	// backstop holds the sockets of waiting checks, each of which its
	// caller waits for in the netpoller itself. It is not in the
	// netpoller (a blocking fd in an os.File, for Control's reference
	// counting): only the sweeper looks into it, so that an answer wakes
	// its caller alone.
	backstop    *os.File
	backstopRaw syscall.RawConn
	// fdsMu orders registering against shutdown: callers hold it for
	// reading from taking a token to their epoll_ctl, shutdown for
	// writing while it takes the maps. It is taken before mu.
	fdsMu sync.RWMutex
	mu    sync.Mutex
	// begun and waiting are the pending checks (under mu). Whoever
	// removes a check owns its end.
	begun   map[uint64]*begun
	waiting map[uint64]*waiting
	next    uint64
	closed  bool
	// closing is set by close before it closes epoll, so that the loop
	// tells that end from a failure.
	closing  atomic.Bool
	loopDone chan struct{}
	// sweeper runs sweep; it is armed, under mu, exactly while checks
	// are pending: see track.
	sweeper *time.Timer
	armed   bool // under mu: sweeper will fire
	// unwatched are the waiting checks added since the last sweep, not
	// yet in the backstop (under mu); see watch.
	unwatched []*waiting
	// sweeping is held while a sweep runs, so that shutdown can wait
	// for one that has taken checks to finish them.
	sweeping sync.Mutex
	// setupSlots bounds how many callers run socket()..connect() at once.
	// Callers beyond it park on the channel instead of queueing as
	// runnable goroutines, so when the netpoller wakes the loop, it finds a
	// short run queue ahead of it and closes answered sockets well within
	// the kernel's 200 ms delayed-ACK timer even under a burst of checks.
	setupSlots chan struct{}
	// resets sends the RSTs with SOCK_DESTROY, when this process may
	// (reset_linux.go); nil otherwise.
	resets *resetter
}

var _ engine = (*epollEngine)(nil)

func newEngine() (engine, error) {
	epoll, err := newEpoll(true)
	if err != nil {
		return nil, err
	}
	backstop, err := newEpoll(false)
	if err != nil {
		epoll.Close()
		return nil, err
	}
	raw, _ := epoll.SyscallConn() // an os.File's never fails
	backstopRaw, _ := backstop.SyscallConn()
	e := &epollEngine{
		epoll:       epoll,
		raw:         raw,
		backstop:    backstop,
		backstopRaw: backstopRaw,
		begun:       make(map[uint64]*begun),
		waiting:     make(map[uint64]*waiting),
		next:        firstToken,
		loopDone:    make(chan struct{}),
		setupSlots:  make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		resets:      newResetter(),
	}
	e.sweeper = time.AfterFunc(sweepInterval, e.sweep)
	e.sweeper.Stop()
	go e.loop()
	return e, nil
}

// newEpoll opens an epoll instance, in Go's netpoller when polled. os.NewFile
// adds a non-blocking fd to the netpoller (edge-triggered); an epoll fd
// is readable while it has events ready, and each new event wakes whoever
// polls it, so the netpoller reports every one.
func newEpoll(polled bool) (*os.File, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if polled {
		if err := unix.SetNonblock(epfd, true); err != nil {
			unix.Close(epfd)
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	return os.NewFile(uintptr(epfd), "epoll"), nil
}

// ctl runs epoll_ctl on the instance raw; ErrClosed once shutdown began.
func ctl(raw syscall.RawConn, op, fd int, events uint32, token uint64) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(token), Pad: int32(token >> 32)}
	var err error
	if cerr := raw.Control(func(epfd uintptr) {
		err = unix.EpollCtl(int(epfd), op, fd, &ev)
	}); cerr != nil {
		return ErrClosed
	}
	if err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func tokenOf(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// track gives a new pending check its token, under mu, and arms the
// sweeper unless it is armed; ErrClosed once shutdown began. The
// sweeper, once armed, fires and re-arms itself only while checks are
// pending: it is never stopped or moved per check, since each such
// change to a timer can break Go's netpoller out of its wait to take the
// new deadline into account, a wake-up per check. Under a steady flow of
// checks it fires once per sweepInterval; with none pending, never.
func (e *epollEngine) track() (uint64, error) {
	if e.closed {
		return 0, ErrClosed
	}
	token := e.next
	e.next++
	if !e.armed {
		e.armed = true
		e.sweeper.Reset(sweepInterval)
	}
	return token, nil
}

// pending counts the checks in flight; mu is held.
func (e *epollEngine) pending() int { return len(e.begun) + len(e.waiting) }

// remove takes the check with token out of m, under mu. Whoever removes a
// check owns its end.
func remove[C any](m map[uint64]C, token uint64) (C, bool) {
	c, ok := m[token]
	if ok {
		delete(m, token)
	}
	return c, ok
}

// shutdown ends every check still pending and closes the epoll instances
// if close has not. Only the loop calls it, once.
func (e *epollEngine) shutdown(cause error) {
	_ = e.epoll.Close() // already closed when close ended the loop
	e.fdsMu.Lock()
	e.mu.Lock()
	e.closed = true
	e.sweeper.Stop()
	left := make([]finisher, 0, e.pending())
	for token := range e.begun {
		c, _ := e.takeBegun(token)
		left = append(left, c)
	}
	for token := range e.waiting {
		c, _ := e.takeWaiting(token)
		left = append(left, c)
	}
	e.unwatched = nil
	e.mu.Unlock()
	e.fdsMu.Unlock()
	// A sweep from now on finds the instance closed; wait for one that
	// may have taken checks before.
	e.sweeping.Lock()
	e.sweeping.Unlock() //nolint:staticcheck // a barrier, not a section
	_ = e.backstop.Close()

	now := time.Now()
	for _, c := range left {
		c.finish(now, failure(ClassLocal, cause))
	}
}

func (e *epollEngine) exactACKs() bool { return e.resets.exact() }

// close closes the epoll instance, which ends the loop's wait, and waits
// until the loop has ended every check.
func (e *epollEngine) close() error {
	e.closing.Store(true)
	_ = e.epoll.Close() // a second Close, or one after shutdown, is harmless
	<-e.loopDone
	e.resets.close()
	return nil
}

// Test hooks that stall the engine as a starved process would:
// testHookWoken runs in a goroutine the netpoller has just woken to take
// an answer (the loop, a waiter), testHookTaking in every goroutine about
// to take answers (the loop, a waiter, and the sweeper, which no wake-up
// precedes), testHookJudged between judge and the reset (socket.end).
var (
	testHookWoken  = func() {}
	testHookTaking = func() {}
	testHookJudged = func() {}
)
