// Command ackescape starves synack_exporter on purpose and counts, for
// each level of CPU competition, the handshake ACKs that reached the
// target against what the exporter reported: ack_leaks_total, probes
// answering probe_tcp_ack_sent 1, and warn lines in its log. The ACKs at
// the peer and ack_leaks_total must be equal: the command fails when they
// differ in any round. bench/ackescape.sh builds and runs it; see
// docs/benchmarks.md, "When the delayed ACK escapes".
//
// Everything happens inside a network namespace it creates: the
// exporter, the HTTP load, and a fake peer on a TUN device
// (internal/fakepeer) that answers SYNs after -delay and resets every
// stray ACK, as a host without a connection for it does. The competing
// busy loops run on the host, at the nice value of the round. Needs root.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// listen is the exporter's address inside the namespace.
const listen = "127.0.0.1:9115"

// port is the peer's open port.
const port = 80

type options struct {
	exporter string
	duration time.Duration
	clients  int
	hogs     int
	nices    []int
	delay    time.Duration
}

func main() {
	var o options
	var nices string
	flag.StringVar(&o.exporter, "exporter", "./synack_exporter", "synack_exporter binary")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "load per round")
	flag.IntVar(&o.clients, "clients", 200, "concurrent /probe requests")
	flag.IntVar(&o.hogs, "hogs", 4, "busy loops competing for the CPUs")
	flag.StringVar(&nices, "nice", "0,-10", "nice values of the busy loops, one round each")
	flag.DurationVar(&o.delay, "delay", 5*time.Millisecond, "the peer's SYN-ACK delay")
	flag.Parse()
	for _, f := range strings.Split(nices, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "ackescape: -nice %q: %v\n", nices, err)
			os.Exit(2)
		}
		o.nices = append(o.nices, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "ackescape: %v\n", err)
		os.Exit(1)
	}
}

// round is what one level of competition gave.
type round struct {
	nice        int
	probes      int
	ackSent     int // probes answering probe_tcp_ack_sent 1
	failed      int // probes answering probe_success 0
	httpErrors  int
	wireACKs    int // bare ACKs the peer read
	wireResets  int // the peer's RSTs to them
	leaks       float64
	warnLines   int
	elapsedLoad time.Duration
}

func run(o options) error {
	ns, err := netns.Create("ackescape")
	if err != nil {
		return err
	}
	defer ns.Close()
	peer, err := fakepeer.New(ns, fakepeer.Config{OpenPorts: []uint16{port}, Delay: o.delay})
	if err != nil {
		return err
	}
	defer peer.Close()
	fmt.Printf("| busy loops (%d) at nice | probes | probes/s | ACKs at the peer | peer's RSTs to them | `ack_leaks_total` | `probe_tcp_ack_sent 1` | warn lines | `probe_success 0` |\n", o.hogs)
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var differ []string
	for _, nice := range o.nices {
		peer.Reset()
		r, err := oneRound(o, ns, peer, nice)
		if err != nil {
			return err
		}
		if float64(r.wireACKs) != r.leaks {
			differ = append(differ, fmt.Sprintf("nice %d: %d ACKs at the peer, ack_leaks_total %.0f", nice, r.wireACKs, r.leaks))
		}
		fmt.Printf("| %d | %d | %.0f | %d | %d | %.0f | %d | %d | %d |\n", r.nice, r.probes, float64(r.probes)/r.elapsedLoad.Seconds(),
			r.wireACKs, r.wireResets, r.leaks, r.ackSent, r.warnLines, r.failed)
		if r.httpErrors > 0 {
			fmt.Fprintf(os.Stderr, "ackescape: nice %d: %d requests failed at the HTTP level\n", nice, r.httpErrors)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("the exporter's count differs from the wire: %s", strings.Join(differ, "; "))
	}
	return nil
}

func oneRound(o options, ns *netns.NS, peer *fakepeer.Peer, nice int) (round, error) {
	r := round{nice: nice}
	exp, logs, err := startExporter(ns, o.exporter)
	if err != nil {
		return r, err
	}
	defer stop(exp)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			// A socket made on a thread inside ns stays in ns.
			err = ns.Do(func() error {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
		MaxIdleConnsPerHost: o.clients,
	}}
	if err := waitHealthy(client); err != nil {
		return r, err
	}
	hogs, err := startHogs(o.hogs, nice)
	defer stopAll(hogs)
	if err != nil {
		return r, err
	}
	url := fmt.Sprintf("http://%s/probe?module=tcp_synack&target=%s", listen, net.JoinHostPort(peer.Addr().String(), strconv.Itoa(port)))
	var probes, ackSent, failed, httpErrors atomic.Int64
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				body, err := get(client, url)
				if err != nil {
					httpErrors.Add(1)
					continue
				}
				probes.Add(1)
				if strings.Contains(body, "\nprobe_tcp_ack_sent 1\n") {
					ackSent.Add(1)
				}
				if strings.Contains(body, "\nprobe_success 0\n") {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r.elapsedLoad = time.Since(start)
	stopAll(hogs)
	hogs = nil
	// The last checks' ACKs and the peer's answers are due within
	// 200 ms; give them a second.
	time.Sleep(time.Second)
	r.probes, r.ackSent, r.failed, r.httpErrors = int(probes.Load()), int(ackSent.Load()), int(failed.Load()), int(httpErrors.Load())
	for _, p := range peer.Packets() {
		if p.IsBareACK() {
			r.wireACKs++
		}
	}
	for _, p := range peer.Answers() {
		if p.Flags == fakepeer.RST {
			r.wireResets++
		}
	}
	metrics, err := get(client, "http://"+listen+"/metrics")
	if err != nil {
		return r, err
	}
	if r.leaks, err = sample(metrics, "synack_exporter_ack_leaks_total"); err != nil {
		return r, err
	}
	stop(exp)
	r.warnLines = countLines(logs.String(), "level=warn", "An ACK left before the RST")
	return r, nil
}

// startExporter starts the exporter inside ns; its log goes to the
// returned buffer.
func startExporter(ns *netns.NS, path string) (*exec.Cmd, *lockedBuffer, error) {
	logs := &lockedBuffer{}
	cmd := exec.Command(path, "--web.listen-address="+listen, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	// A child forked from a thread inside ns starts in ns.
	if err := ns.Do(cmd.Start); err != nil {
		return nil, nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return cmd, logs, nil
}

func waitHealthy(client *http.Client) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := get(client, "http://"+listen+"/-/healthy")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("exporter not healthy after 10s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startHogs starts n busy loops at the given nice value.
func startHogs(n, nice int) ([]*exec.Cmd, error) {
	var hogs []*exec.Cmd
	for range n {
		cmd := exec.Command("nice", "-n", strconv.Itoa(nice), "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			return hogs, err
		}
		hogs = append(hogs, cmd)
	}
	return hogs, nil
}

func stopAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		stop(c)
	}
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// sample finds an unlabelled sample's value in exposition text.
func sample(text, name string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New("no " + name + " in /metrics")
}

func countLines(text string, words ...string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			n++
		}
	}
	return n
}

// lockedBuffer collects a child's output, written from two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
