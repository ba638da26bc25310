// Package dnstest is a small authoritative DNS server on loopback for
// tests, so name resolution goes to answers the test chose and never to
// the machine's configured DNS servers.
//
// It answers A and AAAA queries from a map, over UDP and TCP on one
// random port of 127.0.0.1: a name not in the map is NXDOMAIN, a name in
// it without an address of the asked family is NOERROR with no answer.
// A UDP answer over 512 bytes is sent truncated, so resolvers retry over
// TCP as they would with a real server.
package dnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// maxUDP is the classic DNS message limit (RFC 1035 4.2.1). Answering
// above it truncated, even when the query's EDNS allows more, is legal
// and exercises the resolver's TCP retry.
const maxUDP = 512

// ttl of every answer; Go's resolver caches nothing, so it only matters to
// other clients.
const ttl = 60

// Query is one question the server received.
type Query struct {
	Name    string // lower case, fully qualified ("v4only.test.")
	Type    dnsmessage.Type
	Network string // "udp" or "tcp"
}

// Server is a running DNS server. Its methods are safe for concurrent use.
type Server struct {
	addr netip.AddrPort
	udp  net.PacketConn
	tcp  net.Listener
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu      sync.Mutex
	records map[string][]netip.Addr
	rcodes  map[string]dnsmessage.RCode
	delay   time.Duration
	queries []Query
	conns   map[net.Conn]struct{}
	closed  bool
}

// Start starts a server for t answering from records (name -> addresses;
// names are case-insensitive, the final dot optional) and stops it when t
// ends.
func Start(t testing.TB, records map[string][]netip.Addr) *Server {
	t.Helper()
	s, err := New(records)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("dnstest: %v", err)
		}
	})
	return s
}

// New starts a server answering from records. Close stops it.
func New(records map[string][]netip.Addr) (*Server, error) {
	s := &Server{
		done:    make(chan struct{}),
		records: make(map[string][]netip.Addr),
		rcodes:  make(map[string]dnsmessage.RCode),
		conns:   make(map[net.Conn]struct{}),
	}
	for name, addrs := range records {
		s.records[canonical(name)] = addrs
	}
	if err := s.listen(); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return s, nil
}

// listen binds UDP and TCP to the same random loopback port, as a DNS
// server's one address serves both. A port free for UDP may be taken for
// TCP, so it tries a few.
func (s *Server) listen() error {
	var errs []error
	for range 10 {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp, err := net.Listen("tcp4", addr.String())
		if err != nil {
			udp.Close()
			errs = append(errs, err)
			continue
		}
		s.addr, s.udp, s.tcp = addr, udp, tcp
		return nil
	}
	return fmt.Errorf("no loopback port free for both UDP and TCP: %w", errors.Join(errs...))
}

// canonical is the form names are stored, matched and logged in.
func canonical(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// Addr returns the address the server listens on, for UDP and TCP.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Resolver returns a pure-Go resolver that sends every query to s
// whatever /etc/resolv.conf names. It still reads /etc/hosts first and
// applies resolv.conf's search list to names without a final dot, so
// tests that count queries should use fully qualified names.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr.String())
		},
	}
}

// Set replaces the addresses of name; with none, the name still exists
// (NOERROR, no answer).
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[canonical(name)] = addrs
}

// SetRCode makes every query for name fail with rcode, for example
// dnsmessage.RCodeServerFailure; dnsmessage.RCodeSuccess undoes it.
func (s *Server) SetRCode(name string, rcode dnsmessage.RCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dnsmessage.RCodeSuccess {
		delete(s.rcodes, canonical(name))
		return
	}
	s.rcodes[canonical(name)] = rcode
}

// SetDelay makes the server wait d before each answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Queries returns the questions received so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// QueryCount returns how many questions the server has received.
func (s *Server) QueryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

// Close stops the server and waits for its goroutines; answers still
// waiting out a delay are dropped.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := errors.Join(s.udp.Close(), s.tcp.Close())
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("dnstest: %w", err)
	}
	return nil
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		req := append([]byte(nil), buf[:n]...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if resp, ok := s.respond(req, "udp"); ok {
				s.udp.WriteTo(resp, from)
			}
		}()
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return // closed
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// track registers c so Close can end it; false if already closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// serveConn answers length-prefixed queries (RFC 1035 4.2.2) on one TCP
// connection until the client or Close ends it.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	for {
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		resp, ok := s.respond(req, "tcp")
		if !ok {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// respond logs req, waits out the delay and returns the answer; ok is
// false when there is nothing to send (garbage, or closing).
func (s *Server) respond(req []byte, network string) (resp []byte, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return reply(h, nil, dnsmessage.RCodeFormatError, nil, false), true
	}
	name := canonical(q.Name.String())
	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: name, Type: q.Type, Network: network})
	delay := s.delay
	addrs, known := s.records[name]
	rcode, failing := s.rcodes[name]
	s.mu.Unlock()
	if !s.wait(delay) {
		return nil, false
	}
	switch {
	case failing:
	case !known:
		rcode = dnsmessage.RCodeNameError
	default:
		rcode = dnsmessage.RCodeSuccess
	}
	if q.Class != dnsmessage.ClassINET {
		addrs = nil
	}
	resp = reply(h, &q, rcode, addrs, false)
	if network == "udp" && len(resp) > maxUDP {
		resp = reply(h, &q, rcode, nil, true)
	}
	return resp, true
}

// wait waits d, or less if the server closes; false if it closed.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// reply builds the answer to the query with header h and question q:
// the addresses of q's type among addrs, or none when truncated. If the
// answer cannot be built, it is SERVFAIL, as from a broken real server.
func reply(h dnsmessage.Header, q *dnsmessage.Question, rcode dnsmessage.RCode, addrs []netip.Addr, truncated bool) []byte {
	hdr := dnsmessage.Header{
		ID:               h.ID,
		Response:         true,
		OpCode:           h.OpCode,
		Authoritative:    true,
		Truncated:        truncated,
		RecursionDesired: h.RecursionDesired,
		RCode:            rcode,
	}
	msg, err := build(hdr, q, addrs)
	if err != nil {
		hdr.RCode, hdr.Truncated = dnsmessage.RCodeServerFailure, false
		msg, _ = build(hdr, nil, nil) // a bare header always builds
	}
	return msg
}

func build(hdr dnsmessage.Header, q *dnsmessage.Question, addrs []netip.Addr) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, hdr)
	b.EnableCompression()
	if q == nil {
		return b.Finish()
	}
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(*q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}
	for _, a := range addrs {
		var err error
		switch a = a.Unmap(); {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
