package collector

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFitLimits(t *testing.T) {
	for _, tc := range []struct {
		fds                  uint64
		maxChecks, maxConns  int
		wantChecks, wantConn int
	}{
		// The shipped systemd unit's ratio: plenty for both.
		{65536, 10000, 1000, 10000, 1000},
		// A low limit: connections a quarter of what is left, checks the
		// rest, whatever the flags ask.
		{1024, 10000, 1000, 720, 240},
		{1024, 100, 1000, 100, 240},
		// 0 means as many as the descriptors allow.
		{1024, 0, 0, 720, 240},
		{10, 10000, 1000, 1, 1},
	} {
		t.Run(fmt.Sprint(tc.fds, tc.maxChecks, tc.maxConns), func(t *testing.T) {
			l := fitLimits(tc.fds, tc.maxChecks, tc.maxConns)
			if l.Checks != tc.wantChecks || l.Connections != tc.wantConn {
				t.Errorf("fitLimits = %d checks, %d connections; want %d, %d", l.Checks, l.Connections, tc.wantChecks, tc.wantConn)
			}
			if uint64(l.Checks+l.Connections+fdReserve) > max(tc.fds, fdReserve+2) {
				t.Errorf("%d checks + %d connections + %d reserve exceed %d descriptors", l.Checks, l.Connections, fdReserve, tc.fds)
			}
		})
	}
}

// TestLimitConnections: beyond the cap a new connection is closed
// before anything is read from it, and the connections within it keep
// working; once one closes, a new one is served.
func TestLimitConnections(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	LimitConnections(srv.Config, 2)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	get := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns[:2] {
		if err := get(c); err != nil {
			t.Errorf("connection %d within the cap: %v", i, err)
		}
	}
	if err := get(conns[2]); err == nil {
		t.Error("the connection beyond the cap was served")
	}
	conns[0].Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		err = get(c)
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one of the cap closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling: the server's close of the first is asynchronous
	}
}
