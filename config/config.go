// Package config loads synack_exporter's module configuration: strict YAML,
// defaults applied, every field validated at load time.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// DefaultModule is the module used when /probe names none.
const DefaultModule = "tcp_synack"

// DefaultTimeout is a module's time budget when it sets none. A scrape's
// own timeout, from its header, usually lowers it.
const DefaultTimeout = model.Duration(5 * time.Second)

// Config is the whole configuration file. A Config returned by Load is
// shared by every probe: treat it as read-only.
type Config struct {
	// Modules maps each name, as given in /probe?module=, to its settings.
	Modules map[string]Module `yaml:"modules"`
	// Continuous lists the groups of targets checked on the exporter's
	// own schedule (docs/continuous.md); empty without continuous mode.
	Continuous []ContinuousGroup `yaml:"continuous,omitempty"`
}

// Module is one named way of probing. The zero value is not a valid
// module; start from NewModule.
type Module struct {
	// Timeout caps a probe's duration; must be > 0.
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// PreferredIPProtocol is "ip4" or "ip6": the family tried first for a
	// host name.
	PreferredIPProtocol string `yaml:"preferred_ip_protocol,omitempty"`
	// IPProtocolFallback allows the other family when the preferred one
	// has no address.
	IPProtocolFallback bool `yaml:"ip_protocol_fallback"`
	// SourceIPAddress, when set, is bound before connect().
	SourceIPAddress string `yaml:"source_ip_address,omitempty"`
	// SYNRetries caps the kernel's SYN retransmissions (TCP_SYNCNT, 1-127);
	// 0 keeps the kernel's default.
	SYNRetries int `yaml:"syn_retries,omitempty"`
	// Mark is the socket mark (SO_MARK, 0 to 2^32-1) for policy routing
	// and firewalls; 0 leaves it unset. Setting it needs CAP_NET_ADMIN.
	Mark int64 `yaml:"mark,omitempty"`
	// Interface binds probes to a device (SO_BINDTODEVICE), at most 15
	// characters.
	Interface string `yaml:"interface,omitempty"`
	// TOS is the IPv4 TOS or IPv6 traffic class byte (0-255); 0 leaves it
	// unset.
	TOS int `yaml:"tos,omitempty"`
	// AllowedTargets, when not empty, limits the module to the targets its
	// entries cover (see TargetPattern); empty allows every target.
	AllowedTargets TargetPatterns `yaml:"allowed_targets,omitempty"`
	// DeniedTargets refuses the targets its entries cover, whatever
	// AllowedTargets says.
	DeniedTargets TargetPatterns `yaml:"denied_targets,omitempty"`

	// Several checks per probe (see docs/several-checks.md). Zero values
	// mean the defaults; NewModule leaves them zero so that /config shows
	// only what was set.

	// SYNCount is how many half-open checks each address gets per probe
	// (1-100); 0 means 1.
	SYNCount int `yaml:"syn_count,omitempty"`
	// SYNInterval spaces the SYNs of those checks; nil means
	// DefaultSYNInterval, 0 sends them all at once.
	SYNInterval *model.Duration `yaml:"syn_interval,omitempty"`
	// MinOpenRatio is the share of checks that must find the port open
	// for probe_success 1 (0 < R <= 1); 0 means any one.
	MinOpenRatio float64 `yaml:"min_open_ratio,omitempty"`
	// Addresses is "one" (the default, also "") or "all": every address
	// the host name resolves to.
	Addresses string `yaml:"addresses,omitempty"`
	// AddressLimit caps the addresses checked with addresses: all
	// (1-256); 0 means DefaultAddressLimit.
	AddressLimit int `yaml:"address_limit,omitempty"`
	// Expect is the outcome probe_success wants: open (the default, also
	// ""), closed, refused, timeout, unreachable or prohibited.
	Expect string `yaml:"expect,omitempty"`
}

// Defaults of the fields for several checks per probe.
const (
	DefaultSYNInterval  = model.Duration(10 * time.Millisecond)
	DefaultAddressLimit = 16
)

// Values of Module.Addresses.
const (
	AddressesOne = "one"
	AddressesAll = "all"
)

// Plan returns how a probe with this module checks its target: with a
// plan of one check (SeveralChecks false), the prober's Check does.
func (m Module) Plan() prober.Plan {
	interval := DefaultSYNInterval
	if m.SYNInterval != nil {
		interval = *m.SYNInterval
	}
	return prober.Plan{
		SYNCount:     max(m.SYNCount, 1),
		SYNInterval:  time.Duration(interval),
		AllAddresses: m.Addresses == AddressesAll,
		AddressLimit: cmp.Or(m.AddressLimit, DefaultAddressLimit),
		Expect:       m.ExpectOutcome(),
		MinOpenRatio: m.MinOpenRatio,
	}
}

// ExpectOutcome returns the outcome probe_success wants, for a probe of
// one check (Plan has it too).
func (m Module) ExpectOutcome() prober.Expect {
	if m.Expect == "" {
		return prober.ExpectOpen
	}
	e, _ := prober.ParseExpect(m.Expect)
	return e
}

// SeveralChecks reports whether a probe with this module makes more than
// one check, and so answers with the metrics that sum them up.
func (m Module) SeveralChecks() bool {
	return m.SYNCount > 1 || m.Addresses == AddressesAll
}

// NewModule returns the module an empty entry (`name: {}`) gets: a 5s
// timeout, IPv6 preferred, IPv4 as fallback, as in blackbox_exporter.
func NewModule() Module {
	return Module{
		Timeout:             DefaultTimeout,
		PreferredIPProtocol: string(prober.IP6),
		IPProtocolFallback:  true,
	}
}

// ProbeOptions converts the module into the prober's options. The module
// must be valid (every Module from Load is); an unparsable source address
// would be left unset.
func (m Module) ProbeOptions() prober.Options {
	// Parsing again on each probe costs far less than the probe, and keeps
	// Module a plain value that marshals back as written.
	var src netip.Addr
	if m.SourceIPAddress != "" {
		src, _ = netip.ParseAddr(m.SourceIPAddress)
	}
	return prober.Options{
		PreferredIPProtocol: prober.IPProtocol(m.PreferredIPProtocol),
		IPProtocolFallback:  m.IPProtocolFallback,
		SourceIPAddress:     src,
		SYNRetries:          m.SYNRetries,
		Mark:                uint32(m.Mark),
		Interface:           m.Interface,
		TOS:                 uint8(m.TOS),
		Policy:              m.policy(),
	}
}

// policy returns the module's target lists as the prober's Policy, or nil
// when it has none, so unrestricted probes skip the calls.
func (m Module) policy() prober.Policy {
	if !m.RestrictsTargets() {
		return nil
	}
	// A copy of its own, so that m itself need not escape: &m would move
	// every module's copy to the heap, restricted or not.
	p := m
	return &p
}

// Load parses and validates a configuration document. Every error is an
// *Error whose message is one line, naming the line, module and field
// where known.
func Load(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// Config and Module check their own keys (see decode.go), because
	// yaml.v3 does not pass this flag on to custom unmarshalers; it stays
	// set so that anything decoded by yaml.v3 itself is strict too.
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "no modules defined"}
		}
		return nil, asConfigError(err)
	}
	// A document that is only "~" or "---" never reaches UnmarshalYAML.
	if len(c.Modules) == 0 {
		return nil, &Error{Msg: "no modules defined"}
	}
	// A second document would be silently ignored; most likely a stray
	// "---" cut the file in two.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &Error{Line: next.Line, Msg: "a second YAML document; keep all modules in one"}
	case !errors.Is(err, io.EOF):
		return nil, asConfigError(err)
	}
	return &c, nil
}

// LoadFile reads and loads the file at path. Errors name the file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError names the file already.
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Module returns the named module. It is safe on a nil *Config, which has
// no modules.
func (c *Config) Module(name string) (Module, bool) {
	if c == nil {
		return Module{}, false
	}
	m, ok := c.Modules[name]
	return m, ok
}

// YAML marshals the configuration as loaded, defaults filled in and
// modules sorted by name, for the /config page. Durations read as "5s".
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshalling config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshalling config: %w", err)
	}
	return b.Bytes(), nil
}
