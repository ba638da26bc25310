package dnstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

var (
	v4    = netip.MustParseAddr("198.18.0.2")
	v6    = netip.MustParseAddr("fd00:198:18::2")
	v4b   = netip.MustParseAddr("198.18.0.3")
	v6b   = netip.MustParseAddr("fd00:198:18::3")
	names = map[string][]netip.Addr{
		"v4only.test.": {v4},
		"both.test":    {v4b, v6b},
		"V6Only.test.": {v6},
		"empty.test.":  nil,
	}
)

func lookupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLookup(t *testing.T) {
	s := Start(t, names)
	r := s.Resolver()
	tests := []struct {
		host, network string
		want          []netip.Addr // nil: not found
	}{
		{"v4only.test.", "ip", []netip.Addr{v4}},
		{"v4only.test.", "ip4", []netip.Addr{v4}},
		{"v4only.test.", "ip6", nil},
		{"both.test.", "ip", []netip.Addr{v4b, v6b}},
		{"both.test.", "ip4", []netip.Addr{v4b}},
		{"both.test.", "ip6", []netip.Addr{v6b}},
		{"v6only.test.", "ip", []netip.Addr{v6}},
		{"v6only.test.", "ip4", nil},
		{"v6only.test.", "ip6", []netip.Addr{v6}},
		{"BOTH.Test.", "ip4", []netip.Addr{v4b}},
		{"empty.test.", "ip", nil},
		{"unknown.test.", "ip", nil},
	}
	for _, tt := range tests {
		t.Run(tt.host+"/"+tt.network, func(t *testing.T) {
			got, err := r.LookupNetIP(lookupCtx(t), tt.network, tt.host)
			if tt.want == nil {
				var dnsErr *net.DNSError
				if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
					t.Fatalf("got %v, %v; want a not-found DNSError", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, netip.Addr.Compare)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRCodes(t *testing.T) {
	s := Start(t, names)
	for _, tt := range []struct {
		name, host string
		query      dnsmessage.Type
		want       dnsmessage.RCode
		answers    int
	}{
		{"known name and type", "v4only.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, 1},
		{"known name, other type", "v4only.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, 0},
		{"known name, MX", "both.test.", dnsmessage.TypeMX, dnsmessage.RCodeSuccess, 0},
		{"unknown name", "nope.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := exchange(t, s, "udp", tt.host, tt.query)
			if m.Header.RCode != tt.want || len(m.Answers) != tt.answers || !m.Header.Authoritative {
				t.Fatalf("got %v with %d answers (authoritative %v), want %v with %d", m.Header.RCode, len(m.Answers), m.Header.Authoritative, tt.want, tt.answers)
			}
		})
	}
}

// exchange sends one query and returns the parsed answer.
func exchange(t *testing.T, s *Server, network, host string, typ dnsmessage.Type) dnsmessage.Message {
	t.Helper()
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 42, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(host), Type: typ, Class: dnsmessage.ClassINET}},
	}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial(network, s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if m.Header.ID != 42 {
		t.Fatalf("answer ID %d, want 42", m.Header.ID)
	}
	return m
}

func TestSetAndCount(t *testing.T) {
	s := Start(t, names)
	r := s.Resolver()
	s.Set("v4only.test", v4b)
	s.Set("new.test.", v6b)
	got, err := r.LookupNetIP(lookupCtx(t), "ip4", "v4only.test.")
	if err != nil || !slices.Equal(got, []netip.Addr{v4b}) {
		t.Fatalf("after Set: %v, %v", got, err)
	}
	if got, err := r.LookupNetIP(lookupCtx(t), "ip6", "new.test."); err != nil || !slices.Equal(got, []netip.Addr{v6b}) {
		t.Fatalf("new name: %v, %v", got, err)
	}
	want := []Query{{"v4only.test.", dnsmessage.TypeA, "udp"}, {"new.test.", dnsmessage.TypeAAAA, "udp"}}
	if q := s.Queries(); !slices.Equal(q, want) || s.QueryCount() != 2 {
		t.Fatalf("queries %v (count %d), want %v", q, s.QueryCount(), want)
	}
}

func TestServerFailure(t *testing.T) {
	s := Start(t, names)
	s.SetRCode("both.test.", dnsmessage.RCodeServerFailure)
	_, err := s.Resolver().LookupNetIP(lookupCtx(t), "ip4", "both.test.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || dnsErr.IsNotFound {
		t.Fatalf("got %v; want a DNSError other than not found", err)
	}
	s.SetRCode("both.test.", dnsmessage.RCodeSuccess)
	if _, err := s.Resolver().LookupNetIP(lookupCtx(t), "ip4", "both.test."); err != nil {
		t.Fatalf("after clearing the rcode: %v", err)
	}
}

// TestTCPFallback checks that an answer too big for UDP comes truncated
// and the resolver gets it in full over TCP.
func TestTCPFallback(t *testing.T) {
	var many []netip.Addr
	for a, i := netip.MustParseAddr("198.18.1.1"), 0; i < 40; a, i = a.Next(), i+1 {
		many = append(many, a)
	}
	s := Start(t, map[string][]netip.Addr{"many.test.": many})
	if m := exchange(t, s, "udp", "many.test.", dnsmessage.TypeA); !m.Header.Truncated || len(m.Answers) != 0 {
		t.Fatalf("UDP answer: truncated %v with %d answers; want truncated and empty", m.Header.Truncated, len(m.Answers))
	}
	got, err := s.Resolver().LookupNetIP(lookupCtx(t), "ip4", "many.test.")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, netip.Addr.Compare)
	if !slices.Equal(got, many) {
		t.Fatalf("got %d addresses, want %d", len(got), len(many))
	}
	if !slices.ContainsFunc(s.Queries(), func(q Query) bool { return q.Network == "tcp" }) {
		t.Fatalf("no query over TCP: %v", s.Queries())
	}
}

func TestDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	s := Start(t, names)
	s.SetDelay(delay)
	start := time.Now()
	if _, err := s.Resolver().LookupNetIP(lookupCtx(t), "ip4", "v4only.test."); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("lookup took %v, want at least %v", took, delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), delay/2)
	defer cancel()
	_, err := s.Resolver().LookupNetIP(ctx, "ip4", "v4only.test.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
		t.Fatalf("lookup with a shorter deadline: %v, want a timeout", err)
	}
}

// TestCloseDuringDelay checks that Close does not wait out answers.
func TestCloseDuringDelay(t *testing.T) {
	s, err := New(names)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Resolver().LookupNetIP(ctx, "ip4", "v4only.test.")
		done <- err
	}()
	for s.QueryCount() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no query arrived")
		case <-time.After(time.Millisecond): // poll until the query is in
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
}

// FuzzRespond feeds the server's parser what a client could send.
func FuzzRespond(f *testing.F) {
	q := dnsmessage.Message{Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName("both.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}}
	b, _ := q.Pack()
	f.Add(b)
	s, err := New(names)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, ok := s.respond(req, "udp")
		if !ok {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
	})
}
