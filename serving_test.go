package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// Every answer goes through net/http behind exporter-toolkit: these tests
// pin what a hand-written HTTP layer once got wrong.

// TestWebConfigHeadersOnEveryAnswer: the headers that --web.config.file's
// http_server_config sets are on every /probe answer, whether the target
// answered at once, only at the end of the probe's budget, or the request
// was refused.
func TestWebConfigHeadersOnEveryAnswer(t *testing.T) {
	dir := t.TempDir()
	headers := map[string]string{
		"X-Frame-Options":         "deny",
		"Content-Security-Policy": "default-src 'none'",
		"X-Content-Type-Options":  "nosniff",
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	var yaml strings.Builder
	yaml.WriteString("http_server_config:\n  headers:\n")
	for k, v := range headers {
		fmt.Fprintf(&yaml, "    %s: %q\n", k, v)
	}
	writeConfig(t, webConfig, yaml.String())
	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0", "--web.config.file="+webConfig)
	addr := p.waitLog(t, listeningRE)
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	silent := loopback.Silent(t)

	for _, tc := range []struct {
		name, query string
		status      int
		want        string // in the body
	}{
		{"open target", "target=" + open.Addr().String(), 200, "probe_success 1\n"},
		{"silent target", "target=" + silent.String(), 200, `probe_tcp_error_class{class="timeout"} 1`},
		{"unknown module", "target=" + open.Addr().String() + "&module=nope", 400, "unknown module"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/probe?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A 1.5 s scrape timeout less the 0.5 s offset: a 1 s budget.
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "1.5")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
			for k, v := range headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestPipelinedProbeThenHalfClose: a client that sends a /probe of a
// silent target and a second request at once, then shuts down its
// writing side, gets both answers in order. (net/http reads the EOF as
// the client leaving and cancels the probe's context, so the first
// answer may come before the probe's budget ends, with class other.)
func TestPipelinedProbeThenHalfClose(t *testing.T) {
	p := startExporter(t, t.TempDir(), "--web.listen-address=127.0.0.1:0")
	addr := p.waitLog(t, listeningRE)
	silent := loopback.Silent(t)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// A 1.5 s scrape timeout less the 0.5 s offset: a 1 s budget.
	requests := "GET /probe?target=" + silent.String() + " HTTP/1.1\r\nHost: exporter\r\nX-Prometheus-Scrape-Timeout-Seconds: 1.5\r\n\r\n" +
		"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"
	if _, err := io.WriteString(conn, requests); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}

	r := bufio.NewReader(conn)
	status, body := readAnswer(t, r)
	if status != 200 || !strings.Contains(body, "probe_success 0\n") {
		t.Errorf("pipelined probe: %d %q, want 200 with probe_success 0", status, body)
	}
	if status, body := readAnswer(t, r); status != 200 || body != "Healthy\n" {
		t.Errorf("request after the probe: %d %q, want 200 Healthy", status, body)
	}
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after both answers: read %d bytes, %v; want the server to close", n, err)
	}
}

func readAnswer(t *testing.T, r *bufio.Reader) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestTLSServingWithoutDataRace runs the binary built with the race
// detector and a TLS web config: serving, probing and shutting down
// report no data race (the detector would print one and exit 66).
func TestTLSServingWithoutDataRace(t *testing.T) {
	dir := t.TempDir()
	pool := writeCertificate(t, dir)
	webConfig := filepath.Join(dir, "web-config.yml")
	writeConfig(t, webConfig, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n",
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	p := startBuilt(t, buildRaceBinary, dir, "--web.listen-address=127.0.0.1:0", "--web.config.file="+webConfig)
	addr := p.waitLog(t, listeningRE)
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	for _, path := range []string{"/probe?target=" + target.Addr().String(), "/metrics"} {
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil {
			t.Errorf("%s: %d, TLS %v; want 200 over TLS", path, resp.StatusCode, resp.TLS != nil)
		}
	}
	client.CloseIdleConnections()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`msg="(Shutting down)`))
	for line := range p.lines {
		p.log.WriteString(line + "\n")
	}
	err = p.cmd.Wait()
	if strings.Contains(p.log.String(), "DATA RACE") || err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0 and no data race; log:\n%s", err, p.log.String())
	}
}

// TestIdleConnectionClosed: a keep-alive connection that sends nothing
// after its answer is closed once --web.idle-timeout has passed, not
// before, and the exporter's descriptors go back to what it held before
// the connection.
func TestIdleConnectionClosed(t *testing.T) {
	const idle = time.Second
	p := startExporter(t, t.TempDir(), "--web.listen-address=127.0.0.1:0", "--web.idle-timeout="+idle.String())
	addr := p.waitLog(t, listeningRE)
	pid := p.cmd.Process.Pid
	baseline := leakcheck.ProcessFDs(t, pid)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if status, body := readAnswer(t, r); status != 200 || body != "Healthy\n" {
		t.Fatalf("/-/healthy: %d %q", status, body)
	}
	answered := time.Now()
	if n := leakcheck.ProcessFDs(t, pid); n <= baseline {
		t.Fatalf("the exporter holds %d descriptors with a connection open, %d before: the count misses it", n, baseline)
	}
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d bytes, %v; want the exporter to close it", n, err)
	}
	if waited := time.Since(answered); waited < idle*9/10 {
		t.Errorf("closed after %v idle, before the %v idle timeout", waited, idle)
	}
	deadline := time.Now().Add(10 * time.Second)
	for leakcheck.ProcessFDs(t, pid) > baseline {
		if time.Now().After(deadline) {
			t.Fatalf("the exporter holds %d descriptors after the close, %d before", leakcheck.ProcessFDs(t, pid), baseline)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
