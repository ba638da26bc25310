package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// synackConfig has the modules the scenarios use: IPv4 literals only, so
// no probe waits for a resolver.
const synackConfig = `modules:
  bench:
    timeout: 5s
    preferred_ip_protocol: ip4
  silent:
    timeout: 10s
    preferred_ip_protocol: ip4
`

// blackboxConfig is the tcp prober with nothing to send or expect: it
// connects and closes, blackbox_exporter's cheapest TCP check.
const blackboxConfig = `modules:
  bench:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  silent:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
`

// The names of the servers under test, as the reports show them.
const (
	floorName    = "floor"
	synackName   = "synack_exporter"
	blackboxName = "blackbox_exporter"
)

// exporter is one server process under test.
type exporter struct {
	name string
	proc *proc
	base string // http://host:port
	// inFlightSeries is the unlabelled series of its /metrics that counts
	// probes in flight; empty if it has none.
	inFlightSeries string
}

// exporterSpec says how to start one server.
type exporterSpec struct {
	name           string
	args           []string // the command line, without the configuration file
	listen         string   // host:port inside the namespace
	config         string   // written to a file and passed as --config.file, if set
	inFlightSeries string
}

func synackSpec(binary, listen string, flags ...string) exporterSpec {
	return exporterSpec{
		name: synackName, args: append([]string{binary, "--web.listen-address=" + listen, "--log.level=warn"}, flags...),
		listen: listen, config: synackConfig, inFlightSeries: "synack_exporter_probes_in_flight",
	}
}

func blackboxSpec(binary, listen string) exporterSpec {
	return exporterSpec{
		name: blackboxName, args: []string{binary, "--web.listen-address=" + listen, "--log.level=warn"},
		listen: listen, config: blackboxConfig,
	}
}

// floorSpec is this program as the floor server (floor_linux.go).
func floorSpec(listen string) exporterSpec {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exporterSpec{name: floorName, args: []string{self, "-" + floorServerFlag, listen}, listen: listen, inFlightSeries: "probes_in_flight"}
}

// start writes the configuration to dir, starts the server in ns and
// waits until it answers /-/healthy.
func (s exporterSpec) start(ns *netns.NS, c *http.Client, dir string) (*exporter, error) {
	args := s.args
	if s.config != "" {
		cfg := filepath.Join(dir, s.name+".yml")
		if err := os.WriteFile(cfg, []byte(s.config), 0o644); err != nil {
			return nil, err
		}
		args = append(args[:len(args):len(args)], "--config.file="+cfg)
	}
	p, err := startIn(ns, s.name, args...)
	if err != nil {
		return nil, err
	}
	e := &exporter{name: s.name, proc: p, base: "http://" + s.listen, inFlightSeries: s.inFlightSeries}
	return e, e.waitHealthy(c, 10*time.Second)
}

func (e *exporter) waitHealthy(c *http.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if err := e.proc.alive(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/-/healthy", nil)
		resp, err := c.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %v: %v\n%s", e.name, limit, err, e.proc.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probeURL is the /probe URL for target with the bench's module.
func (e *exporter) probeURL(module, target string) string {
	return e.base + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode()
}
