package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// scrapeAccept is the Accept header Prometheus sends with a scrape; with
// Accept-Encoding: gzip and the timeout header it makes each request cost
// an exporter what a real scrape costs.
const scrapeAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// nsDialer returns a dial function whose connections are made inside ns.
// A socket belongs to the namespace of the thread that created it, so
// each dial runs under ns.Do; dialing bounds how many run at once, since
// each holds an OS thread while it connects.
func nsDialer(ns *netns.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialing := make(chan struct{}, 16)
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case dialing <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-dialing }()
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// newClient returns an HTTP client whose connections are made inside ns.
func newClient(ns *netns.NS, maxConns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         nsDialer(ns),
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true, // gzip is asked for and undone below
	}}
}

// response is what one /probe request gave.
type response struct {
	start, end time.Time
	wrote      time.Time // the request was written: start plus any dialing
	status     int
	body       []byte // uncompressed
	err        error
}

func (r response) latency() time.Duration { return r.end.Sub(r.start) }

// served is the time from the request written to the answer read: the
// latency without the client's own dialing.
func (r response) served() time.Duration {
	if r.wrote.IsZero() {
		return r.latency()
	}
	return r.end.Sub(r.wrote)
}

// get makes one scrape-like request.
func get(ctx context.Context, c *http.Client, url string, scrapeTimeout time.Duration) (r response) {
	r.start = time.Now()
	// Written from the transport's own goroutine.
	var wrote atomic.Int64
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
	})
	defer func() {
		if ns := wrote.Load(); ns != 0 {
			r.wrote = time.Unix(0, ns)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Accept", scrapeAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(scrapeTimeout.Seconds(), 'f', -1, 64))
	resp, err := c.Do(req)
	if err != nil {
		r.end, r.err = time.Now(), err
		return r
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			r.end, r.err = time.Now(), err
			return r
		}
		body = gz
	}
	r.body, r.err = io.ReadAll(body)
	r.end, r.status = time.Now(), resp.StatusCode
	return r
}

// metric returns the value of an unlabelled sample in a text exposition.
func metric(body []byte, name string) (float64, bool) {
	prefix := []byte(name + " ")
	for line := range bytes.Lines(body) {
		if rest, ok := bytes.CutPrefix(line, prefix); ok {
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// succeeded reports a 200 answer with probe_success 1.
func (r response) succeeded() bool {
	v, ok := metric(r.body, "probe_success")
	return r.err == nil && r.status == http.StatusOK && ok && v == 1
}

// closedLoop keeps conc requests in flight until d has passed and
// returns every latency and how many answers were not a success. Each
// worker owns one keep-alive connection and writes the same request
// bytes on it: net/http's Transport hands every request between three
// goroutines, and on 2 cores shared with the exporters that cost showed
// in the req/s of the cheaper one.
func closedLoop(dial func() (net.Conn, error), host, path string, conc int, d time.Duration) (lat []time.Duration, failed int, firstFailure string, err error) {
	until := time.Now().Add(d)
	var sum tally
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			w := &worker{dial: dial, request: scrapeRequest(host, path)}
			defer w.close()
			var mine tally
			for time.Now().Before(until) && mine.err == nil {
				start := time.Now()
				body, err := w.do()
				mine.record(time.Since(start), body, err)
			}
			sum.add(&mine)
		})
	}
	wg.Wait()
	return sum.lat, sum.failed, sum.firstFailure, sum.err
}

// tally adds up the answers of one load generator's workers: each
// worker keeps its own and adds it to the shared one at the end.
type tally struct {
	mu           sync.Mutex
	lat          []time.Duration
	failed       int    // answers without probe_success 1
	firstFailure string // why the first of them failed
	err          error  // the first request that got no answer at all
}

// record notes one request that took d and got body, or err.
func (t *tally) record(d time.Duration, body []byte, err error) {
	t.lat = append(t.lat, d)
	if err != nil {
		t.err = cmp.Or(t.err, err)
		return
	}
	if v, ok := metric(body, "probe_success"); !ok || v != 1 {
		t.failed++
		if t.firstFailure == "" {
			t.firstFailure = failureSummary(body)
		}
	}
}

// add folds a worker's tally into t.
func (t *tally) add(w *tally) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lat = append(t.lat, w.lat...)
	t.failed += w.failed
	t.firstFailure = cmp.Or(t.firstFailure, w.firstFailure)
	t.err = cmp.Or(t.err, w.err)
}

// failureSummary keeps the lines of a failed probe's answer that say why.
func failureSummary(body []byte) string {
	var keep []string
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "probe_tcp_errno ") || strings.HasPrefix(line, "probe_duration_seconds ") ||
			strings.HasPrefix(line, "probe_tcp_error_class") && strings.HasSuffix(line, " 1") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return fmt.Sprintf("%.300q", body)
	}
	return strings.Join(keep, ", ")
}

// scrapeRequest is a GET with the headers of a Prometheus scrape.
func scrapeRequest(host, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: synack-bench\r\nAccept: " + scrapeAccept +
		"\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n")
}

// worker is one connection of closedLoop.
type worker struct {
	dial    func() (net.Conn, error)
	request []byte
	conn    net.Conn
	br      *bufio.Reader
	gz      *gzip.Reader
	body    bytes.Buffer
}

// do sends the request and returns the answer's body, uncompressed. A
// connection the server closed is dialed again once.
func (w *worker) do() ([]byte, error) {
	body, err := w.try()
	if err != nil {
		w.close()
		body, err = w.try()
	}
	return body, err
}

func (w *worker) try() ([]byte, error) {
	if w.conn == nil {
		c, err := w.dial()
		if err != nil {
			return nil, err
		}
		w.conn = c
		w.br = bufio.NewReader(c)
	}
	if _, err := w.conn.Write(w.request); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if w.gz == nil {
			w.gz, err = gzip.NewReader(resp.Body)
		} else {
			err = w.gz.Reset(resp.Body)
		}
		if err != nil {
			return nil, err
		}
		r = w.gz
	}
	w.body.Reset()
	if _, err := w.body.ReadFrom(r); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, w.body.Bytes())
	}
	return w.body.Bytes(), nil
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// openLoop starts requests at rate per second for d, whatever the answers
// take, and returns them all. url gives the URL of the i-th request.
func openLoop(c *http.Client, url func(i int) string, rate int, d time.Duration, scrapeTimeout time.Duration) []response {
	ctx, cancel := context.WithTimeout(context.Background(), d+scrapeTimeout+10*time.Second)
	defer cancel()
	n := int(float64(rate) * d.Seconds())
	out := make([]response, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		// A schedule, not a ticker: a late start is caught up at once,
		// so the rate holds on average.
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() { out[i] = get(ctx, c, url(i), scrapeTimeout) })
	}
	wg.Wait()
	return out
}

// percentile returns the q-quantile (0..1) of xs by the nearest-rank
// method; xs is sorted in place.
func percentile[T int64 | float64 | time.Duration](xs []T, q float64) T {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
