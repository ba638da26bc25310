package prober

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// This file owns the loop: checks started with begin (BeginAddr, and so
// every check of CheckMany) hand their sockets to the engine's one epoll
// instance, which one loop goroutine waits for in Go's netpoller. The
// loop judges and closes the sockets that answered and calls back; the
// end of a check's context takes its socket back and calls back with a
// timeout. No goroutine per check.

// maxEvents bounds one epoll_pwait batch; the loop takes another batch
// at once when one comes back full.
const maxEvents = 256

// begun is a check started with begin: its socket is in the loop's epoll
// instance until its owner, whoever removes it from epollEngine.begun,
// finishes it.
type begun struct {
	socket
	token uint64
	// done gets the result; it runs on the loop (or the sweeper, or the
	// context's AfterFunc) and must not block.
	done func(Result)
	// stop cancels the context.AfterFunc that expires the check.
	stop func() bool
}

// finish ends b for its owner: its verdict, its socket closed (the RST
// leaves), and done called.
func (b *begun) finish(now time.Time, otherwise Result) {
	r, _ := judge(b.socket, now, otherwise)
	r = b.end(r, func() { unix.Close(b.fd) })
	b.stop()
	b.done(r)
}

func (e *epollEngine) begin(ctx context.Context, addr netip.AddrPort, opts Options, done func(Result)) (Result, bool) {
	s, r, answered := e.send(ctx, addr, opts)
	if answered {
		return r, true
	}
	b := &begun{socket: s, done: done}
	// Set before the loop can see b. The context's expire waits until
	// register has returned: b is in the map from before its epoll_ctl,
	// and an expire in between would close the fd under it (and register
	// would then fail, or add a number that is already someone else's).
	// A ctx already ended fires at once and so expires b right after
	// register.
	registered := make(chan struct{})
	defer close(registered)
	b.stop = context.AfterFunc(ctx, func() {
		<-registered
		e.expire(ctx, b)
	})
	if err := e.register(b); err != nil {
		b.stop()
		unix.Close(b.fd)
		return failure(ClassLocal, err), true
	}
	return Result{}, false
}

// register adds b to the loop. EPOLLONESHOT: one event per socket is all
// a check needs. The epoll_ctl runs outside mu, which whoever takes events
// needs after every wake-up: held across the syscall, mu made the loop
// wait behind callers registering (pprof's mutex profile of
// BenchmarkCheck). No event can name b.token before the epoll_ctl, and
// fdsMu keeps shutdown from taking the map meanwhile, so a register that
// fails because close began takes b back itself.
func (e *epollEngine) register(b *begun) error {
	e.fdsMu.RLock()
	defer e.fdsMu.RUnlock()
	e.mu.Lock()
	token, err := e.track()
	if err == nil {
		b.token = token
		e.begun[token] = b
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ctl(e.raw, unix.EPOLL_CTL_ADD, b.fd, unix.EPOLLOUT|unix.EPOLLONESHOT, b.token); err != nil {
		e.mu.Lock()
		remove(e.begun, b.token)
		e.mu.Unlock()
		return err
	}
	return nil
}

// expire ends b when its context ended, unless the loop (or the
// sweeper) already took its answer. A SYN-ACK may have come in while
// neither ran: then the result is open, and says whether the delayed ACK
// left.
func (e *epollEngine) expire(ctx context.Context, b *begun) {
	e.mu.Lock()
	_, mine := remove(e.begun, b.token)
	e.mu.Unlock()
	if mine {
		b.finish(time.Now(), contextFailure(ctx.Err()))
	}
}

// loop waits in Go's netpoller for the epoll instance to have events, as
// a goroutine waits to read a socket, and takes them. An answer then costs
// the netpoller's wake-up of the loop goroutine, on a P and a thread that
// are already running, instead of a thread blocked in a syscall that must
// get a P back first. The loop ends when the instance is closed.
func (e *epollEngine) loop() {
	defer close(e.loopDone)
	var d drainer
	var derr error
	err := e.raw.Read(func(epfd uintptr) bool {
		testHookWoken()
		derr = e.drainAll(&d, int(epfd))
		return derr != nil
	})
	switch {
	case derr != nil:
		e.shutdown(derr)
	case e.closing.Load():
		e.shutdown(ErrClosed)
	default:
		e.shutdown(os.NewSyscallError("epoll wait", err))
	}
}

// drainAll drains until a batch comes back short: the netpoller reports
// only new events, so none may be left behind in the instance.
func (e *epollEngine) drainAll(d *drainer, epfd int) error {
	for {
		n, err := e.drain(d, epfd, e.takeBegun)
		if err != nil || n < len(d.events) {
			return err
		}
	}
}

// finisher is a check its owner can end: a begun check, or a waiting one
// taken from its waiter.
type finisher interface {
	finish(now time.Time, otherwise Result)
}

// drainer holds one goroutine's buffers for drain.
type drainer struct {
	events [maxEvents]unix.EpollEvent
	ready  []finisher
}

// drain takes the ready events of the epoll instance epfd without
// waiting, removes their checks with take (under mu), finishes them, and
// says how many events it took. The loop and the sweeper may drain at
// once: EPOLLONESHOT hands each event to one of them, and the maps hand
// each check to one owner.
func (e *epollEngine) drain(d *drainer, epfd int, take func(token uint64) (finisher, bool)) (int, error) {
	n, err := unix.EpollWait(epfd, d.events[:], 0)
	now := time.Now()
	testHookTaking()
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, os.NewSyscallError("epoll_pwait", err)
	}
	d.ready = d.ready[:0]
	e.mu.Lock()
	for i := range d.events[:n] {
		if c, ok := take(tokenOf(&d.events[i])); ok {
			d.ready = append(d.ready, c)
		}
	}
	e.mu.Unlock()
	for _, c := range d.ready {
		c.finish(now, woke)
	}
	clear(d.ready)
	return n, nil
}

// takeBegun removes the begun check with token; mu is held.
func (e *epollEngine) takeBegun(token uint64) (finisher, bool) {
	b, ok := remove(e.begun, token)
	return b, ok
}

// woke is the result of a socket that epoll reported without an answer.
var woke = failure(ClassOther, errors.New("prober: socket woke without an answer"))
