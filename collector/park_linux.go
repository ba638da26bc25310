package collector

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// What a parked connection is watched for. Hang-ups (EPOLLHUP, EPOLLERR)
// are always reported.
const (
	watchHangUp   = unix.EPOLLRDHUP
	watchRequest  = unix.EPOLLIN | unix.EPOLLRDHUP
	watchReadable = unix.EPOLLIN
)

// wakeToken is the eventfd's token; connections' tokens start above it.
const wakeToken = 0

// watcher tells, from one epoll instance and one goroutine, when a parked
// connection needs attention: its client hung up, or sent a request.
// Each registration is one-shot and is keyed by a token that is never
// reused, so that an event for a connection already closed, whose fd
// number is now another's, finds nothing.
type watcher struct {
	epfd, wakefd int
	loopDone     chan struct{}

	// mu guards the map and keeps epfd open: add and remove run
	// epoll_ctl under it, close closes epfd under it.
	mu      sync.Mutex
	watched map[uint64]watched
	next    uint64
	closed  bool
	idle    int // watched connections waiting for a request
}

type watched struct {
	conn *parkedConn
	idle bool // waiting for a request, not for a probe
	on   func(events uint32)
}

func newWatcher() (*watcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	w := &watcher{
		epfd: epfd, wakefd: wakefd, loopDone: make(chan struct{}),
		watched: make(map[uint64]watched), next: wakeToken + 1,
	}
	go w.loop()
	return w, nil
}

// add watches pc for events; on runs once, on the watcher's goroutine,
// unless remove comes first. on must not block for long.
func (w *watcher) add(pc *parkedConn, events uint32, on func(events uint32)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWatcherClosed
	}
	token := w.next
	w.next++
	ev := unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(token), Pad: int32(token >> 32)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, pc.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	pc.token = token
	x := watched{conn: pc, idle: events&watchReadable != 0, on: on}
	w.watched[token] = x
	if x.idle {
		w.idle++
	}
	return nil
}

// remove stops watching pc, if it still is.
func (w *watcher) remove(pc *parkedConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forget(pc)
}

// forget deletes pc's registration; mu is held.
func (w *watcher) forget(pc *parkedConn) bool {
	if w.closed || pc.token == 0 {
		return false
	}
	x, ok := w.watched[pc.token]
	if !ok {
		return false
	}
	if x.idle {
		w.idle--
	}
	delete(w.watched, pc.token)
	pc.token = 0
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, pc.fd, nil)
	return true
}

func (w *watcher) loop() {
	defer close(w.loopDone)
	var events [128]unix.EpollEvent
	for {
		n, err := unix.EpollWait(w.epfd, events[:], -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Only a closed or broken epfd gets here; close ends the rest.
			return
		}
		for i := range events[:n] {
			token := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if token == wakeToken {
				return
			}
			w.mu.Lock()
			x, ok := w.watched[token]
			if ok {
				w.forget(x.conn)
			}
			w.mu.Unlock()
			if ok {
				x.on(events[i].Events)
			}
		}
	}
}

// idleConns counts the connections waiting for a request.
func (w *watcher) idleConns() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idle
}

// closeIdle closes every connection that waits for a request.
func (w *watcher) closeIdle() {
	w.mu.Lock()
	var idle []*parkedConn
	for _, x := range w.watched {
		if x.idle {
			idle = append(idle, x.conn)
		}
	}
	for _, pc := range idle {
		w.forget(pc)
	}
	w.mu.Unlock()
	for _, pc := range idle {
		pc.Close()
	}
}

// close stops the watcher; connections still watched are closed.
func (w *watcher) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	var one [8]byte
	one[0] = 1
	unix.Write(w.wakefd, one[:])
	w.mu.Unlock()
	<-w.loopDone
	w.mu.Lock()
	w.closed = true
	left := w.watched
	w.watched = nil
	w.idle = 0
	unix.Close(w.epfd)
	unix.Close(w.wakefd)
	w.mu.Unlock()
	for _, x := range left {
		x.conn.Close()
	}
}

var errWatcherClosed = errors.New("connection watcher closed")
