package collector

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Parking: with many probes in flight, most of the exporter's memory is
// not the probes but the HTTP connections waiting for them. net/http
// keeps two goroutines and about 10 kB of buffers for every request
// being handled, so 10,000 probes of a silent target held 320 MB. Above
// Options.ParkAbove probes in flight, a /probe request on a plain HTTP/1.1
// connection sends its SYN, then takes the connection from net/http
// (Hijack) and returns: the handler's goroutine and net/http's buffers
// go, and the probe waits as a prober callback and an epoll registration
// (the watcher) that notices the client hanging up. The answer is written
// to the connection by whichever goroutine ends the probe; the connection
// then waits for its next request in the watcher, not in a goroutine, and
// goes back to the http.Server through Exporter.Listener when it comes.

// beginner is a Checker that can check without a waiting goroutine;
// *prober.Checker is one.
type beginner interface {
	Begin(ctx context.Context, target string, opts prober.Options, done func(prober.Result)) (prober.Result, bool)
}

// parkWriteTimeout bounds writing a parked probe's answer: about 2.5 kB,
// which a fresh connection's send buffer takes at once unless the client
// stopped reading.
const parkWriteTimeout = 10 * time.Second

// parking holds what parked connections share.
type parking struct {
	above int64
	back  *handback

	mu      sync.Mutex
	watch   *watcher // started by the first park
	probes  int      // parked probes not yet answered
	drained chan struct{}
}

// enter counts a probe about to park; false when parking is closed or
// not started.
func (pk *parking) enter() (*watcher, bool) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.watch == nil || pk.back.closed() {
		return nil, false
	}
	pk.probes++
	return pk.watch, true
}

// start starts the watcher, when the listener is first served; parking
// stays off if it cannot.
func (pk *parking) start() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.watch != nil || pk.back.closed() {
		return
	}
	if w, err := newWatcher(); err == nil {
		pk.watch = w
	}
}

// counts says how many connections are parked: with their probe running,
// and waiting for their next request.
func (pk *parking) counts() (probes, idle int) {
	pk.mu.Lock()
	w := pk.watch
	probes = pk.probes
	pk.mu.Unlock()
	if w != nil {
		idle = w.idleConns()
	}
	return probes, idle
}

// leave counts a parked probe answered.
func (pk *parking) leave() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pk.probes--
	if pk.probes == 0 && pk.drained != nil {
		close(pk.drained)
		pk.drained = nil
	}
}

// Listener returns the listener through which connections that /probe
// parked come back to the HTTP server when their next request arrives.
// Serve it with the same http.Server as the exporter's own listener;
// until it is served, /probe never parks. Serving it starts a goroutine
// and takes two descriptors (an epoll instance and an eventfd) until
// Shutdown, which closes it.
func (e *Exporter) Listener() net.Listener { return e.park.back }

// Shutdown stops parking, closes the parked connections that wait for a
// request, and waits until every parked probe has answered (each then
// closes its connection) or ctx ends. Call it after http.Server.Shutdown.
func (e *Exporter) Shutdown(ctx context.Context) error {
	pk := e.park
	pk.back.close()
	pk.mu.Lock()
	w := pk.watch
	var drained chan struct{}
	if pk.probes > 0 {
		drained = make(chan struct{})
		pk.drained = drained
	}
	pk.mu.Unlock()
	if w == nil {
		return nil
	}
	w.closeIdle()
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			return fmt.Errorf("parked probes still running: %w", ctx.Err())
		}
	}
	// No probe is parked and the watcher has stopped: nothing can give
	// the listener a connection any more.
	w.close()
	pk.back.drain()
	return nil
}

// parkProbe runs the probe with its connection parked, if it may be, and
// reports whether it did (then the request is the probe's, answered or
// to be answered).
func (e *Exporter) parkProbe(w http.ResponseWriter, r *http.Request, req probeRequest, module config.Module, timeout time.Duration) bool {
	pk := e.park
	b, ok := e.opts.Checker.(beginner)
	if !ok || pk.above < 0 || e.inFlight.Load() < pk.above ||
		r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.TLS != nil ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	watch, ok := pk.enter()
	if !ok {
		return false
	}
	rec, logger := e.newRecord(req, module, timeout)
	if !e.acquire() {
		pk.leave()
		rec, err := e.settle(rec, logger, e.rejectConcurrency())
		e.answer(w, req, rec, err)
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &parkedProbe{
		e: e, watch: watch, req: req, rec: rec, logger: logger, cancel: cancel,
		keepAlive: !r.Close, ready: make(chan struct{}),
	}
	if res, ok := b.Begin(ctx, req.Target, module.ProbeOptions(), p.answered); ok {
		// Answered at once (a target on this host, a failed lookup):
		// nothing to park.
		p.result = res
		p.settle(w)
		return true
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		level.Debug(e.logger).Log("msg", "Cannot park the probe's connection", "id", rec.ID, "err", err)
		<-p.ready
		p.settle(w)
		return true
	}
	pc := newParkedConn(conn, buf.Reader)
	if pc.fd >= 0 {
		// Before p.conn is set: once it is, the probe may end and close pc.
		if err := watch.add(pc, watchHangUp, p.hungUp); err != nil {
			level.Debug(e.logger).Log("msg", "Cannot watch a parked connection", "id", rec.ID, "err", err)
		}
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		p.finish(pc)
		return true
	}
	p.conn = pc
	p.mu.Unlock()
	return true
}

// parkedProbe is a probe whose connection may be parked.
type parkedProbe struct {
	e         *Exporter
	watch     *watcher
	req       probeRequest
	rec       *probeRecord
	logger    log.Logger
	cancel    context.CancelFunc
	keepAlive bool
	hangUp    atomic.Bool

	mu     sync.Mutex
	result prober.Result
	done   bool
	conn   *parkedConn   // set once parked
	ready  chan struct{} // closed when the result comes before parking
}

// answered is the prober's callback.
func (p *parkedProbe) answered(r prober.Result) {
	p.mu.Lock()
	p.result, p.done = r, true
	pc := p.conn
	p.mu.Unlock()
	if pc == nil {
		close(p.ready)
		return
	}
	p.finish(pc)
}

// hungUp is the watcher's callback: the client closed its side, so the
// probe is cancelled as net/http cancels a request's context.
func (p *parkedProbe) hungUp(uint32) {
	p.hangUp.Store(true)
	p.cancel()
}

// settle records the probe and answers through w, on the handler's
// goroutine: the connection was never parked.
func (p *parkedProbe) settle(w http.ResponseWriter) {
	p.cancel()
	p.e.release()
	p.e.park.leave()
	rec, err := p.e.settle(p.rec, p.logger, p.result)
	p.e.answer(w, p.req, rec, err)
}

// finish records the probe and writes its answer to the parked
// connection pc, which then waits for its next request.
func (p *parkedProbe) finish(pc *parkedConn) {
	e := p.e
	p.watch.remove(pc)
	p.cancel()
	e.release()
	defer e.park.leave()
	var resp responseBuffer
	rec, err := e.settle(p.rec, p.logger, p.result)
	e.answer(&resp, p.req, rec, err)
	keepAlive := p.keepAlive && !p.hangUp.Load() && !e.park.back.closed()
	pc.SetWriteDeadline(time.Now().Add(parkWriteTimeout))
	if _, err := pc.Write(resp.wire(keepAlive)); err != nil || !keepAlive {
		if err != nil {
			level.Debug(e.logger).Log("msg", "Error writing parked probe's answer", "id", p.rec.ID, "err", err)
		}
		pc.Close()
		return
	}
	pc.SetWriteDeadline(time.Time{})
	e.park.rest(p.watch, pc)
}

// rest leaves pc, answered, to wait for its next request in the watcher,
// or hands it straight back when it cannot be watched or already holds
// the start of a request.
func (pk *parking) rest(w *watcher, pc *parkedConn) {
	if pc.fd < 0 || len(pc.pending) > 0 {
		pk.back.give(pc)
		return
	}
	err := w.add(pc, watchRequest, func(events uint32) {
		if events&watchReadable != 0 {
			pk.back.give(pc)
		} else {
			pc.Close()
		}
	})
	if err != nil {
		pk.back.give(pc)
	}
}

// parkedConn is a connection taken from net/http. Reads return first the
// bytes net/http had read past the request (a pipelined next request).
type parkedConn struct {
	net.Conn
	fd      int // -1 when the connection has no descriptor to watch
	token   uint64
	pending []byte
}

// newParkedConn wraps a hijacked connection once: a connection that comes
// back to be parked again is its own wrapper.
func newParkedConn(conn net.Conn, r interface {
	Buffered() int
	Peek(int) ([]byte, error)
}) *parkedConn {
	pc, ok := conn.(*parkedConn)
	if !ok {
		pc = &parkedConn{Conn: conn, fd: -1}
		if sc, ok := conn.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				raw.Control(func(fd uintptr) { pc.fd = int(fd) })
			}
		}
	}
	if n := r.Buffered(); n > 0 {
		b, _ := r.Peek(n)
		pc.pending = append(pc.pending, b...)
	}
	return pc
}

func (c *parkedConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(b)
}

// CloseWrite lets net/http close its side first, as it does for a
// *net.TCPConn.
func (c *parkedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handback is the listener through which parked connections return to
// the http.Server.
type handback struct {
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	served  sync.Once
	onServe func() // at the first Accept
}

func newHandback(onServe func()) *handback {
	return &handback{conns: make(chan net.Conn, 256), done: make(chan struct{}), onServe: onServe}
}

func (h *handback) Accept() (net.Conn, error) {
	h.served.Do(h.onServe)
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handback) Close() error { h.close(); return nil }

func (h *handback) close() { h.once.Do(func() { close(h.done) }) }

func (h *handback) closed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *handback) Addr() net.Addr { return handbackAddr{} }

// give hands c to the server, or closes it once the listener is closed.
// The first check matters: select picks at random among ready cases, and
// the buffered channel is ready after the close too.
func (h *handback) give(c net.Conn) {
	if h.closed() {
		c.Close()
		return
	}
	select {
	case h.conns <- c:
	case <-h.done:
		c.Close()
	}
}

// drain closes the connections given while the listener was closing,
// which nobody will accept now.
func (h *handback) drain() {
	for {
		select {
		case c := <-h.conns:
			c.Close()
		default:
			return
		}
	}
}

type handbackAddr struct{}

func (handbackAddr) Network() string { return "parked" }
func (handbackAddr) String() string  { return "parked connections" }

// responseBuffer is an http.ResponseWriter that keeps the answer, to be
// written to a parked connection as an HTTP/1.1 response.
type responseBuffer struct {
	header http.Header
	status int
	body   []byte
}

func (b *responseBuffer) Header() http.Header {
	if b.header == nil {
		b.header = make(http.Header)
	}
	return b.header
}

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	b.body = append(b.body, p...)
	return len(p), nil
}

// wire renders the response with its length and date, and with
// "Connection: close" unless the connection stays open.
func (b *responseBuffer) wire(keepAlive bool) []byte {
	b.WriteHeader(http.StatusOK)
	h := b.Header()
	h.Set("Content-Length", strconv.Itoa(len(b.body)))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if !keepAlive {
		h.Set("Connection", "close")
	}
	var out bytes.Buffer
	out.Grow(256 + len(b.body))
	fmt.Fprintf(&out, "HTTP/1.1 %03d %s\r\n", b.status, http.StatusText(b.status))
	h.Write(&out)
	out.WriteString("\r\n")
	out.Write(b.body)
	return out.Bytes()
}
