package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const mode = ModeHalfOpen

// Check tokens start at 1, so that a zeroed event never matches one.
const firstToken = 1

// maxEvents bounds one epoll_pwait batch; the loop takes another batch
// at once when one comes back full.
const maxEvents = 256

// pending is one check between connect() and its answer. Whoever removes
// it from epollEngine.checks owns its answer. A begun check's owner closes
// its fd and calls done. A waiting check's socket belongs to its waiter
// (file), who closes it; an owner other than the waiter (the sweeper,
// shutdown) holds taken from the moment it removes the check until it
// has put the answer in result.
type pending struct {
	token uint64
	fd    int
	sent  time.Time
	// done gets the result of a begun check; the loop calls it, so it
	// must not block.
	done func(Result)
	// stop cancels the context.AfterFunc that ends a begun check with
	// its context (see expire).
	stop func() bool
	// file is a waiting check's socket in Go's netpoller, nil for a
	// begun check.
	file   *os.File
	taken  sync.Mutex
	result Result
}

// finish hands p's result to its caller.
func (p *pending) finish(r Result) {
	p.stop()
	p.done(r)
}

// epollEngine runs every check of a Checker through one epoll instance.
// Sockets are keyed by a token that is never reused, not by fd number: a
// check that timed out closes its fd, and the next socket may get the same
// number while an event for the old one is still in the loop's batch.
type epollEngine struct {
	// epoll is the epoll instance, non-blocking, in Go's own netpoller:
	// the loop waits for its readiness as a socket's reader would, so no
	// thread blocks in a syscall for the engine. Every use of its fd goes
	// through epoll's Read or Control, which keep it open meanwhile;
	// closing it ends the loop.
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
	// writing while it takes the map. It is taken before mu.
	fdsMu  sync.RWMutex
	mu     sync.Mutex
	checks map[uint64]*pending
	next   uint64
	closed bool
	// closing is set by close before it closes epoll, so that the loop
	// tells that end from a failure.
	closing  atomic.Bool
	loopDone chan struct{}
	// sweeper runs sweep; it is armed, under mu, exactly while checks
	// are pending: see sweep.
	sweeper *time.Timer
	armed   bool // under mu: sweeper will fire
	// unwatched are the waiting checks added since the last sweep, not
	// yet in the backstop (under mu); see watch.
	unwatched []*pending
	// sweeping is held while a sweep runs, so that shutdown can wait
	// for one that has taken checks to finish them.
	sweeping sync.Mutex
	// setupSlots bounds how many callers run socket()..connect() at once.
	// Callers beyond it park on the channel instead of queueing as
	// runnable goroutines, so when the netpoller wakes the loop, it finds a
	// short run queue ahead of it and closes answered sockets well within
	// the kernel's 200 ms delayed-ACK timer even under a burst of checks.
	setupSlots chan struct{}
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
		checks:      make(map[uint64]*pending),
		next:        firstToken,
		loopDone:    make(chan struct{}),
		setupSlots:  make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
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

func (e *epollEngine) begin(ctx context.Context, addr netip.AddrPort, opts Options, done func(Result)) (Result, bool) {
	p, r, ok := e.send(ctx, addr, opts)
	if ok {
		return r, true
	}
	p.done = done
	// Set before the loop can see p. The context's expire waits until
	// register has returned: p is in the map from before its epoll_ctl,
	// and an expire in between would close the fd under it (and register
	// would then fail, or add a number that is already someone else's).
	// A ctx already ended fires at once and so expires p right after
	// register.
	registered := make(chan struct{})
	defer close(registered)
	p.stop = context.AfterFunc(ctx, func() {
		<-registered
		e.expire(ctx, p)
	})
	if err := e.register(p); err != nil {
		p.stop()
		unix.Close(p.fd)
		return failure(ClassLocal, err), true
	}
	return Result{}, false
}

// check makes a check and waits for its answer in the caller's own
// goroutine, which Go's netpoller wakes when the socket has one, as it
// wakes a goroutine reading a socket: no other goroutine takes part. The
// socket is also in the backstop for the sweeper, in case that wake-up
// comes too late.
func (e *epollEngine) check(ctx context.Context, deadline time.Time, addr netip.AddrPort, opts Options) (r Result) {
	defer func() { r.Addr = addr }()
	if r, refused := refuse(ctx, addr); refused {
		return r
	}
	p, r, ok := e.send(ctx, addr, opts)
	if ok {
		return r
	}
	return e.await(ctx, deadline, p)
}

// await waits for a sent check's answer until ctx ends or deadline
// (unless zero) passes; it owns p's fd and closes it. The deadline is the
// netpoller's own, and a context that can end is watched with AfterFunc:
// neither costs a goroutine or a wake-up while the check waits.
func (e *epollEngine) await(ctx context.Context, deadline time.Time, p *pending) Result {
	p.file = os.NewFile(uintptr(p.fd), "check") // non-blocking: in the netpoller
	// Closing the socket sends the RST; every return below comes after
	// the answer was read.
	defer p.file.Close()
	if err := e.watch(p); err != nil {
		return failure(ClassLocal, err)
	}
	if !deadline.IsZero() {
		p.file.SetWriteDeadline(deadline)
	}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { p.file.SetWriteDeadline(longAgo) })
	}
	raw, _ := p.file.SyscallConn()
	// Write calls the function at once and returns if it says so; else
	// it waits until the netpoller reports the socket writable, which a
	// connecting socket becomes only when connect() has ended (answered,
	// refused or failed), and calls it again. send looked just now, so
	// the first call does not; an answer since then is in the netpoller
	// from the moment the socket is added.
	var at time.Time
	werr := raw.Write(func(uintptr) bool {
		if at.IsZero() {
			at = p.sent
			return false
		}
		at = time.Now()
		return true
	})
	stop()
	testHookAfterPoll()
	testHookAfterWait()
	e.mu.Lock()
	_, mine := e.remove(p.token)
	e.mu.Unlock()
	if !mine {
		// The sweeper or shutdown took it, and leaves the answer.
		p.taken.Lock()
		defer p.taken.Unlock()
		return p.result
	}
	switch {
	case werr == nil:
		return verdict(p.fd, p.sent, at, woke)
	case ctx.Err() != nil:
		return verdict(p.fd, p.sent, time.Now(), contextFailure(ctx.Err()))
	case errors.Is(werr, os.ErrDeadlineExceeded):
		return verdict(p.fd, p.sent, time.Now(), contextFailure(context.DeadlineExceeded))
	}
	return verdict(p.fd, p.sent, time.Now(), failure(ClassOther, werr))
}

// longAgo is a deadline that has passed: setting it wakes a waiter.
var longAgo = time.Unix(1, 0)

// send opens and connects a socket for a check. ok is true when the check
// already has its result r (an error, or an answer that came while
// connect() ran); otherwise p is the check, its SYN sent.
func (e *epollEngine) send(ctx context.Context, addr netip.AddrPort, opts Options) (p *pending, r Result, ok bool) {
	select {
	case e.setupSlots <- struct{}{}:
	default:
		// Only now ask for ctx's channel, which a context makes on demand.
		select {
		case e.setupSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, contextFailure(ctx.Err()), true
		}
	}
	defer func() { <-e.setupSlots }()
	fd, err := openSocket(addr, opts)
	if err != nil {
		return nil, failure(ClassLocal, err), true
	}
	sa, err := sockaddr(addr, familyOfFd(addr))
	if err != nil {
		unix.Close(fd)
		return nil, failure(ClassLocal, err), true
	}
	sent := time.Now()
	err = unix.Connect(fd, sa)
	switch {
	case err == nil || errors.Is(err, unix.EINPROGRESS):
		if r, ok := answerEarly(fd, sent); ok {
			return nil, r, true
		}
	default:
		unix.Close(fd)
		return nil, connectFailure(os.NewSyscallError("connect", err)), true
	}
	return &pending{fd: fd, sent: sent}, Result{}, false
}

// expire ends a check whose ctx ended, unless the loop has already taken
// its answer.
func (e *epollEngine) expire(ctx context.Context, p *pending) {
	if r, ok := e.abandon(p, contextFailure(ctx.Err())); ok {
		p.done(r)
	}
}

func familyOfFd(addr netip.AddrPort) int {
	if addr.Addr().Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// register adds p to the loop. EPOLLONESHOT: one event per socket is all
// a check needs. The epoll_ctl runs outside mu, which whoever takes events
// needs after every wake-up: held across the syscall, mu made the loop
// wait behind callers registering (pprof's mutex profile of
// BenchmarkCheck). No event can name p.token before the epoll_ctl, and
// fdsMu keeps shutdown from taking the map meanwhile, so a register that
// fails because close began takes p back itself.
func (e *epollEngine) register(p *pending) error {
	e.fdsMu.RLock()
	defer e.fdsMu.RUnlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	p.token = e.next
	e.next++
	e.add(p)
	e.mu.Unlock()
	if err := ctl(e.raw, unix.EPOLL_CTL_ADD, p.fd, unix.EPOLLOUT|unix.EPOLLONESHOT, p.token); err != nil {
		e.mu.Lock()
		e.remove(p.token)
		e.mu.Unlock()
		return err
	}
	return nil
}

// watch adds a waiting check p to the map for the sweeper, which puts it
// in the backstop when it next runs (see sweep): a check that ends before
// then, as nearly all do, never costs an epoll_ctl, nor its close the
// work of leaving a second instance.
func (e *epollEngine) watch(p *pending) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	p.token = e.next
	e.next++
	e.add(p)
	e.unwatched = append(e.unwatched, p)
	return nil
}

// add puts p in the map and arms the sweeper unless it is armed; remove
// takes a check out. Both run under mu. The sweeper, once armed, fires
// and re-arms itself only while checks are pending: it is never stopped
// or moved per check, since each such change to a timer can break Go's
// netpoller out of its wait to take the new deadline into account, a
// wake-up per check. Under a steady flow of checks it fires once per
// sweepInterval; with none pending, never.
func (e *epollEngine) add(p *pending) {
	e.checks[p.token] = p
	if !e.armed {
		e.armed = true
		e.sweeper.Reset(sweepInterval)
	}
}

func (e *epollEngine) remove(token uint64) (*pending, bool) {
	p, ok := e.checks[token]
	if ok {
		delete(e.checks, token)
	}
	return p, ok
}

// take is remove for an owner that will settle the check; a waiting
// check's waiter then waits for its result.
func (e *epollEngine) take(token uint64) (*pending, bool) {
	p, ok := e.remove(token)
	if ok && p.file != nil {
		p.taken.Lock()
	}
	return p, ok
}

// settle ends p, which its owner took with take: a begun check through
// done, after its fd is closed; a waiting check by leaving the result to
// its waiter, and waking it. Its socket is its waiter's to close, so an
// answered one is reset at once with disconnect.
func settle(p *pending, now time.Time, otherwise Result) {
	if p.file == nil {
		p.finish(conclude(p, now, otherwise))
		return
	}
	p.result = verdict(p.fd, p.sent, now, otherwise)
	if p.result.Class == ClassOpen {
		disconnect(p.fd)
	}
	p.taken.Unlock()
	p.file.SetWriteDeadline(longAgo)
}

// disconnect resets fd's connection without closing fd: connect() with
// AF_UNSPEC runs tcp_disconnect, which sends a RST from ESTABLISHED or
// CLOSE_WAIT and leaves the socket in CLOSE, with no delayed ACK to come.
func disconnect(fd int) {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	_, _, _ = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
}

// abandon takes p back from the loop after its caller gave up, and
// finishes it as the loop would, with otherwise as the result when no
// answer has come. ok is false when the loop already owns p's answer. A
// SYN-ACK may have come in while neither the loop nor the caller ran:
// then the result is open, and says whether the delayed ACK left.
func (e *epollEngine) abandon(p *pending, otherwise Result) (r Result, ok bool) {
	e.mu.Lock()
	_, found := e.remove(p.token)
	e.mu.Unlock()
	if !found {
		return Result{}, false
	}
	return conclude(p, time.Now(), otherwise), true
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
		testHookAfterPoll()
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
		n, err := e.drain(d, epfd)
		if err != nil || n < len(d.events) {
			return err
		}
	}
}

// sweep is the loop's backstop against a starved scheduler. The netpoller
// is polled when a P runs out of work, or by sysmon after 10 ms, and a
// goroutine it readies then may wait at the back of the global run queue;
// behind a burst of HTTP requests that can take longer than the kernel's
// 200 ms delayed ACK. A timer's function instead runs from the P that
// fires it. So while checks are pending, every sweepInterval the sweeper
// takes whatever events are ready itself and sends the RSTs.
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
	for _, p := range unwatched {
		raw, _ := p.file.SyscallConn()
		_ = raw.Control(func(fd uintptr) {
			_ = ctl(e.backstopRaw, unix.EPOLL_CTL_ADD, int(fd), unix.EPOLLOUT|unix.EPOLLONESHOT, p.token)
		})
	}
	var d drainer
	// An error here is the loop's to act on: it sees the same fd.
	_ = e.raw.Control(func(epfd uintptr) { _, _ = e.drain(&d, int(epfd)) })
	_ = e.backstopRaw.Control(func(epfd uintptr) { _, _ = e.drain(&d, int(epfd)) })
	e.mu.Lock()
	e.armed = len(e.checks) > 0
	if e.armed {
		e.sweeper.Reset(sweepInterval)
	}
	e.mu.Unlock()
}

// sweepInterval bounds how long a SYN-ACK waits for its RST when its
// waiter or the loop cannot run: well under the 200 ms delayed ACK, with
// room for the timer itself to be late on a starved machine, and rare
// enough to cost next to nothing (it runs only while checks are pending).
const sweepInterval = 20 * time.Millisecond

// drainer holds one goroutine's buffers for drain.
type drainer struct {
	events [maxEvents]unix.EpollEvent
	ready  []*pending
}

// drain takes the ready events without waiting, answers their checks,
// and says how many events it took. The loop and the sweeper may drain at
// once: EPOLLONESHOT hands each event to one of them, and the map hands
// each check to one owner.
func (e *epollEngine) drain(d *drainer, epfd int) (int, error) {
	n, err := unix.EpollWait(epfd, d.events[:], 0)
	now := time.Now()
	testHookAfterWait()
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, os.NewSyscallError("epoll_pwait", err)
	}
	d.ready = d.ready[:0]
	e.mu.Lock()
	for i := range d.events[:n] {
		if p, ok := e.take(tokenOf(&d.events[i])); ok {
			d.ready = append(d.ready, p)
		}
	}
	e.mu.Unlock()
	for _, p := range d.ready {
		settle(p, now, woke)
	}
	return n, nil
}

// woke is the result of a socket that epoll reported without an answer.
var woke = failure(ClassOther, errors.New("prober: socket woke without an answer"))

// answer reads what the kernel knows about fd's handshake (judge). When
// it has an answer, answer closes fd, sending the RST before anything
// else can delay it, and returns the result with ok true; a socket still
// in SYN_SENT stays open, with ok false.
func answer(fd int, sent, now time.Time) (Result, bool) {
	r, ok := judge(fd, sent, now)
	if ok {
		unix.Close(fd)
	}
	return r, ok
}

// judge reads what the kernel knows about fd's handshake; ok is false
// while the socket is still in SYN_SENT. Every path that ends a check
// (the loop, the sweeper, a waiting caller, a caller that gives up,
// shutdown, and the caller right after connect()) decides here, so each
// tells the same truth.
//
// An established socket (or one the peer closed since: CLOSE_WAIT) got
// a SYN-ACK. So did a socket reset with ECONNRESET or EPIPE: tcp_reset()
// gives ECONNREFUSED to a reset in SYN_SENT and those two only to a
// connection that was established. That is the escaped ACK's usual end:
// the check was read more than 200 ms after the SYN-ACK, the kernel's
// delayed ACK left, and a peer with no connection for it (a fake peer, a
// SYN proxy) answered with an RST. Checked on Linux 6.18 with the fake
// peer (doc.go has what TCP_INFO holds then); the result is open, ACKSent.
func judge(fd int, sent, now time.Time) (Result, bool) {
	var info unix.TCPInfo
	if err := tcpInfo(fd, &info); err != nil {
		return failure(ClassOther, os.NewSyscallError("getsockopt TCP_INFO", err)), true
	}
	return judgeInfo(fd, &info, sent, now)
}

// tcpInfo reads fd's TCP_INFO into info, which can then live on the
// caller's stack (unix.GetsockoptTCPInfo allocates one per call).
func tcpInfo(fd int, info *unix.TCPInfo) error {
	n := uint32(unsafe.Sizeof(*info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(info)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// judgeInfo is judge with fd's TCP_INFO already read.
func judgeInfo(fd int, info *unix.TCPInfo, sent, now time.Time) (Result, bool) {
	switch info.State {
	case tcpSynSent:
		return Result{}, false
	case tcpEstablished, tcpCloseWait:
		return openResult(info, now.Sub(sent)), true
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch errno := unix.Errno(soerr); {
	case err != nil:
		return failure(ClassOther, os.NewSyscallError("getsockopt SO_ERROR", err)), true
	case errno == unix.ECONNRESET || errno == unix.EPIPE:
		return openResult(info, now.Sub(sent)), true
	case errno != 0:
		return connectFailure(os.NewSyscallError("connect", errno)), true
	}
	return failure(ClassOther, fmt.Errorf("prober: socket in TCP state %d without an error", info.State)), true
}

// verdict is fd's answer when it has one, and otherwise when it has none
// yet. A socket still in SYN_SENT may already carry its error: the
// kernel sets it and wakes epoll before it moves the socket to CLOSE
// (tcp_reset, tcp_done_with_error), so it can be read in between.
func verdict(fd int, sent, now time.Time, otherwise Result) Result {
	if r, ok := judge(fd, sent, now); ok {
		return r
	}
	if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
		return connectFailure(os.NewSyscallError("connect", unix.Errno(soerr)))
	}
	return otherwise
}

// conclude ends a begun check p, which its caller has taken from the
// loop: its verdict, then its fd closed.
func conclude(p *pending, now time.Time, otherwise Result) Result {
	r := verdict(p.fd, p.sent, now, otherwise)
	unix.Close(p.fd)
	return r
}

// answeredEarly finishes a check whose answer came while connect() ran,
// as a target on this host (loopback, a local container) answers: the
// kernel handles the SYN-ACK or RST before connect() returns (EINPROGRESS,
// or even success).
// One getsockopt then spares the check the loop's wake-up and the
// hand-off back, two thread switches that cost more than the check; a
// remote target is still in SYN_SENT and goes to the loop as before.
func answeredEarly(fd int, sent time.Time) (Result, bool) {
	return answer(fd, sent, time.Now())
}

// answerEarly is answeredEarly; tests of the loop turn it off, since a
// loopback target would otherwise never reach the loop.
var answerEarly = answeredEarly

// openResult is the result of a socket that got a SYN-ACK, seen by user
// space synack after the SYN left.
func openResult(info *unix.TCPInfo, synack time.Duration) Result {
	r := Result{
		Class:          ClassOpen,
		Mode:           mode,
		SYNACK:         synack,
		RTT:            time.Duration(info.Rtt) * time.Microsecond,
		SYNRetransmits: info.Total_retrans,
		// Every segment so far is the SYN or a retransmission of it,
		// unless the handshake's ACK already left.
		ACKSent: info.Segs_out > 1+info.Total_retrans,
		Peer:    peerOf(info),
	}
	if r.ACKSent {
		r.SYNACK = kernelSYNACK(info, synack)
	}
	return r
}

// kernelSYNACK is the SYN to SYN-ACK time as the kernel recorded it, for
// an answer that user space saw at least 200 ms late (its ACK escaped):
// tcpi_rtt, the kernel's own sample, when no SYN was retransmitted;
// otherwise synack less tcpi_last_ack_recv, how long ago the SYN-ACK
// came, in jiffies (4 ms with this kernel's HZ=250). Both survive a reset.
func kernelSYNACK(info *unix.TCPInfo, synack time.Duration) time.Duration {
	if info.Total_retrans == 0 && info.Rtt > 0 {
		return time.Duration(info.Rtt) * time.Microsecond
	}
	return max(0, synack-time.Duration(info.Last_ack_recv)*time.Millisecond)
}

// Test hooks: testHookAfterWait stalls whoever takes events (loop or
// sweeper), as a starved process would; testHookAfterPoll stalls only the
// loop, each time the netpoller wakes it, before it takes events.
var (
	testHookAfterWait = func() {}
	testHookAfterPoll = func() {}
)

// TCP states from the kernel's include/net/tcp_states.h.
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpCloseWait   = 8
)

// shutdown ends every check still waiting, closing its fd, and closes the
// epoll instance if close has not. Only the loop calls it, once.
func (e *epollEngine) shutdown(cause error) {
	_ = e.epoll.Close() // already closed when close ended the loop
	e.fdsMu.Lock()
	e.mu.Lock()
	e.closed = true
	e.sweeper.Stop()
	left := e.checks
	e.unwatched = nil
	for _, p := range left {
		if p.file != nil {
			p.taken.Lock()
		}
	}
	e.checks = nil
	e.mu.Unlock()
	e.fdsMu.Unlock()
	// A sweep from now on finds the instance closed; wait for one that
	// may have taken checks before.
	e.sweeping.Lock()
	e.sweeping.Unlock() //nolint:staticcheck // a barrier, not a section
	_ = e.backstop.Close()

	now := time.Now()
	for _, p := range left {
		settle(p, now, failure(ClassLocal, cause))
	}
}

// close closes the epoll instance, which ends the loop's wait, and waits
// until the loop has ended every check.
func (e *epollEngine) close() error {
	e.closing.Store(true)
	_ = e.epoll.Close() // a second Close, or one after shutdown, is harmless
	<-e.loopDone
	return nil
}
