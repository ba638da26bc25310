package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		// The document as a whole.
		{"invalid-empty.yml", `config: no modules defined`},
		{"invalid-null-document.yml", `config: no modules defined`},
		{"invalid-no-modules.yml", `config line 2: no modules defined`},
		{"invalid-modules-null.yml", `config line 1: no modules defined`},
		{"invalid-top-level-list.yml", `config line 1: want a mapping with a "modules" key, got a list`},
		{"invalid-unknown-top-field.yml", `config line 3: unknown field "scrape_interval"`},
		{"invalid-modules-twice.yml", `config line 3: modules: set twice (first on line 1)`},
		{"invalid-modules-list.yml", `config line 2: modules: want a mapping of module names to modules, got a list`},
		{"invalid-two-documents.yml", `config line 3: a second YAML document; keep all modules in one`},
		// yaml.v3's own words; its line numbers for parse errors point at
		// where the enclosing block began, not at the bad line.
		{"invalid-syntax.yml", `config: yaml: line 1: did not find expected key`},
		{"invalid-tab.yml", `config: yaml: line 2: found character that cannot start any token`},

		// Module names and shapes.
		{"invalid-module-name-chars.yml", `config line 2: module "tcp synack": name may only contain letters, digits, '_', '-' and '.'`},
		{"invalid-module-name-empty.yml", `config line 2: module name is empty`},
		{"invalid-module-name-list.yml", `config line 2: module name must be a string, got a list`},
		{"invalid-module-twice.yml", `config line 4: module "tcp_fast": defined twice (first on line 2)`},
		{"invalid-module-not-mapping.yml", `config line 2: module "tcp_synack": want a mapping of settings, got "fast"`},
		{"invalid-unknown-field.yml", `config line 4: module "tcp_synack": unknown field "timout"`},
		{"invalid-blackbox-prober.yml", `config line 3: module "tcp_connect": unknown field "prober": blackbox_exporter style: drop "prober:" and move the fields under "tcp:" up into the module (see docs/blackbox-migration.md)`},
		{"invalid-blackbox-tcp.yml", `config line 4: module "tcp_ip4": unknown field "tcp": blackbox_exporter style: move the fields under "tcp:" up into the module and drop "prober:" (see docs/blackbox-migration.md)`},
		{"invalid-blackbox-query-response.yml", `config line 4: module "smtp_banner": unknown field "query_response": a half-open check sends no data; keep blackbox_exporter for this module (see docs/blackbox-migration.md)`},
		{"invalid-blackbox-tls.yml", `config line 4: module "tcp_tls": unknown field "tls": a half-open check never reaches TLS; keep blackbox_exporter for this module (see docs/blackbox-migration.md)`},
		{"invalid-field-name-list.yml", `config line 3: module "tcp_synack": field name must be a string, got a list`},
		{"invalid-field-twice.yml", `config line 5: module "tcp_fast": timeout: set twice (first on line 3)`},
		{"invalid-merge-scalar.yml", `config line 3: module "tcp_fast": <<: want a mapping or a list of mappings to merge, got 3`},
		{"invalid-merge-bad-value.yml", `config line 5: module "tcp_fast": tos: 999 is out of range 0-255`},

		// Fields.
		{"invalid-timeout-unit.yml", `config line 3: module "tcp_fast": timeout: want a duration such as 5s or 500ms, got "5x"`},
		{"invalid-timeout-no-unit.yml", `config line 3: module "tcp_fast": timeout: want a duration such as 5s or 500ms, got 5`},
		{"invalid-timeout-negative.yml", `config line 3: module "tcp_fast": timeout: want a duration such as 5s or 500ms, got "-1s"`},
		{"invalid-timeout-zero.yml", `config line 3: module "tcp_fast": timeout: 0s must be greater than zero`},
		{"invalid-timeout-list.yml", `config line 3: module "tcp_fast": timeout: want a duration such as 5s or 500ms, got a list`},
		{"invalid-preferred-ip-protocol.yml", `config line 3: module "tcp_synack": preferred_ip_protocol: "ipv4" must be ip4 or ip6`},
		{"invalid-preferred-ip-protocol-empty.yml", `config line 3: module "tcp_synack": preferred_ip_protocol: "" must be ip4 or ip6`},
		{"invalid-syn-count-zero.yml", `config line 3: module "tcp_loss": syn_count: 0 is out of range 1-100`},
		{"invalid-syn-count-high.yml", `config line 3: module "tcp_loss": syn_count: 101 is out of range 1-100`},
		{"invalid-syn-count-fraction.yml", `config line 3: module "tcp_loss": syn_count: want an integer, got 2.5`},
		{"invalid-syn-count-spread.yml", `config line 4: module "tcp_loss": syn_count: 100 SYNs 10ms apart take 990ms, 490ms more than half of timeout 1s, which the last one needs for its answer; lower syn_interval to at most 5ms`},
		{"invalid-syn-interval-negative.yml", `config line 4: module "tcp_loss": syn_interval: want a duration such as 5s or 500ms, got "-10ms"`},
		{"invalid-syn-interval-spread.yml", `config line 5: module "tcp_loss": syn_interval: 10 SYNs 1s apart take 9s, 6.5s more than half of timeout 5s, which the last one needs for its answer; lower syn_interval to at most 277ms`},
		{"invalid-min-open-ratio-zero.yml", `config line 4: module "tcp_loss": min_open_ratio: 0 is out of range: want more than 0 and at most 1`},
		{"invalid-min-open-ratio-high.yml", `config line 4: module "tcp_loss": min_open_ratio: 1.5 is out of range: want more than 0 and at most 1`},
		{"invalid-min-open-ratio-nan.yml", `config line 3: module "tcp_loss": min_open_ratio: NaN is out of range: want more than 0 and at most 1`},
		{"invalid-min-open-ratio-string.yml", `config line 3: module "tcp_loss": min_open_ratio: want a number, got "most"`},
		{"invalid-min-open-ratio-expect.yml", `config line 4: module "tcp_filtered": min_open_ratio: applies only with expect: open (with expect: timeout every check must meet it)`},
		{"invalid-addresses.yml", `config line 3: module "tcp_all": addresses: "every" must be one or all`},
		{"invalid-addresses-empty.yml", `config line 3: module "tcp_all": addresses: "" must be one or all`},
		{"invalid-address-limit-zero.yml", `config line 4: module "tcp_all": address_limit: 0 is out of range 1-256`},
		{"invalid-address-limit-high.yml", `config line 4: module "tcp_all": address_limit: 257 is out of range 1-256`},
		{"invalid-expect.yml", `config line 3: module "tcp_filtered": expect: "filtered" must be open, closed, refused, timeout, unreachable or prohibited`},
		{"invalid-expect-empty.yml", `config line 3: module "tcp_filtered": expect: "" must be open, closed, refused, timeout, unreachable or prohibited`},
		{"invalid-fallback-type.yml", `config line 3: module "tcp_synack": ip_protocol_fallback: want true or false, got "maybe"`},
		{"invalid-source-ip.yml", `config line 3: module "tcp_synack": source_ip_address: "127.0.0" is not an IP address`},
		{"invalid-source-ip-hostname.yml", `config line 3: module "tcp_synack": source_ip_address: "localhost" is not an IP address`},
		{"invalid-source-ip-zone.yml", `config line 3: module "tcp_synack": source_ip_address: "fe80::1%lo" has a zone; set interface instead`},
		{"invalid-source-ip-mapped.yml", `config line 3: module "tcp_synack": source_ip_address: "::ffff:127.0.0.1" is IPv4-mapped; write 127.0.0.1`},
		{"invalid-source-ip-unspecified.yml", `config line 3: module "tcp_synack": source_ip_address: "0.0.0.0" is unspecified; leave the field out to let the kernel choose`},
		{"invalid-source-ip-multicast.yml", `config line 3: module "tcp_synack": source_ip_address: "ff02::1" is a multicast address`},
		{"invalid-source-ip6-ip4-only.yml", `config line 6: module "tcp_ip4": source_ip_address: ::1 is IPv6, but preferred_ip_protocol is ip4 and ip_protocol_fallback is false`},
		{"invalid-source-ip4-ip6-only.yml", `config line 3: module "tcp_ip6": source_ip_address: 127.0.0.1 is IPv4, but preferred_ip_protocol is ip6 and ip_protocol_fallback is false`},
		{"invalid-syn-retries-high.yml", `config line 3: module "tcp_fast": syn_retries: 128 is out of range 0-127`},
		{"invalid-syn-retries-negative.yml", `config line 3: module "tcp_fast": syn_retries: -1 is out of range 0-127`},
		{"invalid-syn-retries-fraction.yml", `config line 3: module "tcp_fast": syn_retries: want an integer, got 1.5`},
		{"invalid-mark-negative.yml", `config line 3: module "tcp_marked": mark: -1 is out of range 0-4294967295`},
		{"invalid-mark-high.yml", `config line 3: module "tcp_marked": mark: 4294967296 is out of range 0-4294967295`},
		{"invalid-mark-string.yml", `config line 3: module "tcp_marked": mark: want an integer, got "0x10"`},
		{"invalid-interface-long.yml", `config line 3: module "tcp_dev": interface: "veth-synack-test0" is longer than 15 characters`},
		{"invalid-interface-name.yml", `config line 3: module "tcp_dev": interface: "eth0:1" is not a valid interface name`},
		{"invalid-interface-dot.yml", `config line 3: module "tcp_dev": interface: ".." is not a valid interface name`},
		{"invalid-tos-high.yml", `config line 3: module "tcp_fast": tos: 300 is out of range 0-255`},
		{"invalid-tos-negative.yml", `config line 3: module "tcp_fast": tos: -1 is out of range 0-255`},
		{"invalid-tos-string.yml", `config line 3: module "tcp_fast": tos: want an integer, got "lowdelay"`},

		// Target lists: each entry is checked, and its own line named.
		{"invalid-targets-bad-ip.yml", `config line 4: module "tcp_lan": allowed_targets: "10.0.0:22": "10.0.0" is not an IP address`},
		{"invalid-targets-brackets-ipv4.yml", `config line 4: module "tcp_lan": allowed_targets: "[127.0.0.1]:22": brackets are only for IPv6 addresses and CIDRs`},
		{"invalid-targets-brackets-no-port.yml", `config line 4: module "tcp_lan": allowed_targets: "[::1]": brackets are only needed with a port; leave them out`},
		{"invalid-targets-brackets-unclosed.yml", `config line 4: module "tcp_lan": allowed_targets: "[::1:22": no closing ']'`},
		{"invalid-targets-duplicate.yml", `config line 6: module "tcp_lan": denied_targets: "198.18.0.0/15" is listed twice (first on line 4)`},
		{"invalid-targets-empty-entry.yml", `config line 4: module "tcp_lan": allowed_targets: "": empty entry`},
		{"invalid-targets-empty-label.yml", `config line 4: module "tcp_lan": allowed_targets: "db..example.internal": empty label in host name`},
		{"invalid-targets-host-bits.yml", `config line 5: module "tcp_lan": allowed_targets: "10.0.0.1/8": bits set after the prefix length; write 10.0.0.0/8`},
		{"invalid-targets-mapped.yml", `config line 4: module "tcp_lan": denied_targets: "::ffff:127.0.0.0/104": IPv4-mapped addresses are never probed; write 127.0.0.0/8`},
		{"invalid-targets-mapping.yml", `config line 4: module "tcp_lan": allowed_targets: want a string such as "198.18.0.0/15:80-443" (quote entries that start with '[' or '*'), got a mapping`},
		{"invalid-targets-name-char.yml", `config line 4: module "tcp_lan": allowed_targets: "db!.example.internal": '!' is not allowed in a host name (addresses and CIDRs look like 198.18.0.0/15)`},
		{"invalid-targets-no-host.yml", `config line 4: module "tcp_lan": allowed_targets: ":22": no address, CIDR or host name before the port`},
		{"invalid-targets-number.yml", `config line 4: module "tcp_lan": allowed_targets: want a string such as "198.18.0.0/15:80-443" (quote entries that start with '[' or '*'), got 22`},
		{"invalid-targets-port-backwards.yml", `config line 4: module "tcp_lan": allowed_targets: "198.18.0.0/15:443-80": port range 443-80 ends before it starts`},
		{"invalid-targets-port-leading-zero.yml", `config line 4: module "tcp_lan": allowed_targets: "127.0.0.1:022": port "022" has a leading zero`},
		{"invalid-targets-port-missing.yml", `config line 4: module "tcp_lan": allowed_targets: "127.0.0.1:": no port after ':'`},
		{"invalid-targets-port-sign.yml", `config line 4: module "tcp_lan": allowed_targets: "127.0.0.1:+22": port "+22" is not a decimal number`},
		{"invalid-targets-port-zero.yml", `config line 4: module "tcp_lan": allowed_targets: "[::1]:0": port "0" is out of range 1-65535`},
		{"invalid-targets-prefix-length.yml", `config line 3: module "tcp_lan": allowed_targets: "198.18.0.0/33": prefix length "33" is not 0-32`},
		{"invalid-targets-scalar.yml", `config line 3: module "tcp_lan": allowed_targets: want a list of addresses, CIDRs or host names, got "10.0.0.0/8"`},
		{"invalid-targets-unquoted-brackets.yml", `config: yaml: line 3: did not find expected node content`},
		{"invalid-targets-unquoted-wildcard.yml", `config: yaml: line 4: did not find expected alphabetic or numeric character`},
		{"invalid-targets-wildcard-alone.yml", `config line 4: module "tcp_lan": allowed_targets: "*:22": a wildcard needs a domain after it, as in *.example.internal`},
		{"invalid-targets-wildcard-middle.yml", `config line 4: module "tcp_lan": allowed_targets: "db.*.example.internal": '*' is only allowed as the whole first label, as in *.example.internal`},
		{"invalid-targets-zone.yml", `config line 4: module "tcp_lan": denied_targets: "fe80::1%eth0": zones are not compared; leave the zone out`},

		// Continuous groups: each checked against its module, naming the
		// group by its number in the list.
		{"invalid-continuous-not-list.yml", `config line 4: continuous: want a list of groups (targets or files, module, interval, labels), got a mapping`},
		{"invalid-continuous-twice.yml", `config line 4: continuous: set twice (first on line 3)`},
		{"invalid-continuous-unknown-field.yml", `config line 5: continuous group 1: unknown field "intervall" (a group has targets, files, module, interval, labels)`},
		{"invalid-continuous-empty-group.yml", `config line 4: continuous group 1: a group needs targets or files`},
		{"invalid-continuous-interval-low.yml", `config line 6: continuous group 2: interval: 5ms is below the minimum 10ms`},
		{"invalid-continuous-interval-unit.yml", `config line 5: continuous group 1: interval: want a duration such as 1s or 500ms, got 5`},
		{"invalid-continuous-target-syntax.yml", `config line 6: continuous group 1: targets: target "db.example.net" is not host:port: missing port in address`},
		{"invalid-continuous-target-twice.yml", `config line 6: continuous group 1: targets: "127.0.0.1:22" is listed twice (first on line 5)`},
		{"invalid-continuous-target-two-groups.yml", `config line 5: continuous group 2: targets: "127.0.0.1:22" with module tcp_synack is already in group 1`},
		{"invalid-continuous-unspecified.yml", `config line 4: continuous group 1: targets: target "0.0.0.0:22": 0.0.0.0: the unspecified address means this host itself and is never a target`},
		{"invalid-continuous-module-unknown.yml", `config line 4: continuous group 1: module: "tcp_fast" is not defined in modules`},
		{"invalid-continuous-module-syn-count.yml", `config line 5: continuous group 1: module: "tcp_loss" has syn_count 10; continuous mode sends one SYN per address and interval (lower the interval instead)`},
		{"invalid-continuous-denied.yml", `config line 2: continuous group 1: targets: 198.18.0.7:22 matches no allowed_targets entry`},
		{"invalid-continuous-denied-name.yml", `config line 5: continuous group 1: targets: db.example.net:5432 matches denied_targets entry "*.example.net"`},
		{"invalid-continuous-files-glob.yml", `config line 4: continuous group 1: files: "/etc/targets/[.yml" is not a valid glob: syntax error in pattern`},
		{"invalid-continuous-label-name.yml", `config line 5: continuous group 1: labels: "team-name" is not a valid label name`},
		{"invalid-continuous-label-reserved.yml", `config line 7: continuous group 1: labels: "address" is set by the exporter itself`},
		{"invalid-continuous-label-value.yml", `config line 5: continuous group 1: labels: team: want a value, got a list`},
	}

	// Every invalid file must have its expected message here.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no expected message in this table", f)
		}
	}

	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yml"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Load(data)
			if err == nil {
				t.Fatalf("Load succeeded with %v, want error %q", c.Modules, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Load error\n got: %s\nwant: %s", got, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("Load error is %T, want *config.Error", err)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	data := []byte("modules:\n  tcp_fast:\n    tos: 300\n")
	_, err := Load(data)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error %v is %T, want *config.Error", err, err)
	}
	if ce.Line != 3 || ce.Module != "tcp_fast" || ce.Field != "tos" {
		t.Errorf("Error{Line: %d, Module: %q, Field: %q}, want {3, tcp_fast, tos}", ce.Line, ce.Module, ce.Field)
	}
}

func TestErrorUnwrapsCause(t *testing.T) {
	data := []byte("modules:\n  m:\n    source_ip_address: 1.2.3\n")
	_, err := Load(data)
	// netip's parse error type is unexported: check that a cause is kept.
	var ce *Error
	if !errors.As(err, &ce) || ce.Unwrap() == nil {
		t.Errorf("Load error %v keeps no cause", err)
	}
}

// module returns the defaults with f applied, to write expectations as
// differences from the defaults.
func module(f func(*Module)) Module {
	m := NewModule()
	if f != nil {
		f(&m)
	}
	return m
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		file string
		want map[string]Module
	}{
		{"valid-defaults.yml", map[string]Module{
			"tcp_synack": module(nil),
			"tcp_null":   module(nil),
			"tcp_nulls":  module(nil),
		}},
		{"valid-full.yml", map[string]Module{
			"tcp_custom": {
				Timeout:             model.Duration(90 * time.Second),
				PreferredIPProtocol: "ip4",
				IPProtocolFallback:  false,
				SourceIPAddress:     "127.0.0.2",
				SYNRetries:          127,
				Mark:                4294967295,
				Interface:           "veth-synack-x0",
				TOS:                 0xb8,
			},
			"tcp_v6": module(func(m *Module) {
				m.Timeout = model.Duration(250 * time.Millisecond)
				m.SourceIPAddress = "::1"
				m.IPProtocolFallback = false
			}),
		}},
		{"valid-merge.yml", map[string]Module{
			"base":  module(func(m *Module) { m.Timeout, m.TOS = model.Duration(2*time.Second), 16 }),
			"extra": module(func(m *Module) { m.Timeout, m.SYNRetries = model.Duration(3*time.Second), 2 }),
			// tos written in the module wins; base wins over extra.
			"merged": module(func(m *Module) {
				m.Timeout, m.TOS, m.SYNRetries = model.Duration(2*time.Second), 32, 2
			}),
			"alias": module(func(m *Module) { m.Timeout, m.TOS = model.Duration(2*time.Second), 16 }),
		}},
		{"valid-source-fallback.yml", map[string]Module{
			"tcp_v4_source": module(func(m *Module) { m.SourceIPAddress = "127.0.0.1" }),
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yml"), func(t *testing.T) {
			c, err := LoadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Modules, tt.want) {
				t.Errorf("modules\n got: %+v\nwant: %+v", c.Modules, tt.want)
			}
		})
	}
}

func TestNewModule(t *testing.T) {
	m := NewModule()
	want := Module{Timeout: model.Duration(5 * time.Second), PreferredIPProtocol: "ip6", IPProtocolFallback: true}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("NewModule() = %+v, want %+v", m, want)
	}
	if err := m.validate(); err != nil {
		t.Errorf("NewModule() is invalid: %v", err)
	}
}

// TestRepositoryConfig loads the config.yml that the binary embeds.
func TestRepositoryConfig(t *testing.T) {
	c, err := LoadFile("../config.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Module{
		DefaultModule: module(nil),
		"tcp_ip4": module(func(m *Module) {
			m.PreferredIPProtocol, m.IPProtocolFallback = "ip4", false
		}),
		"tcp_fast": module(func(m *Module) {
			m.Timeout, m.SYNRetries = model.Duration(time.Second), 1
		}),
		"tcp_loopback": module(func(m *Module) {
			m.AllowedTargets = patterns(t, "127.0.0.0/8", "::1")
		}),
		"tcp_loss": module(func(m *Module) {
			interval := model.Duration(10 * time.Millisecond)
			m.SYNCount, m.SYNInterval, m.MinOpenRatio = 10, &interval, 0.7
		}),
		"tcp_all_addresses": module(func(m *Module) {
			m.Addresses, m.AddressLimit, m.MinOpenRatio = AddressesAll, 16, 1
		}),
		"tcp_must_be_filtered": module(func(m *Module) {
			m.Timeout, m.Expect = model.Duration(2*time.Second), "timeout"
		}),
	}
	if !reflect.DeepEqual(c.Modules, want) {
		t.Errorf("modules\n got: %+v\nwant: %+v", c.Modules, want)
	}
}

func TestYAML(t *testing.T) {
	c, err := Load([]byte("modules:\n  b: {tos: 8}\n  a:\n    timeout: 1m30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	const want = `modules:
  a:
    timeout: 1m30s
    preferred_ip_protocol: ip6
    ip_protocol_fallback: true
  b:
    timeout: 5s
    preferred_ip_protocol: ip6
    ip_protocol_fallback: true
    tos: 8
`
	if string(got) != want {
		t.Errorf("YAML()\n got:\n%s\nwant:\n%s", got, want)
	}
}

// TestYAMLRoundTrip checks that what /config shows loads back unchanged.
func TestYAMLRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/valid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, "../config.yml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			assertRoundTrip(t, c)
		})
	}
}

func assertRoundTrip(t testing.TB, c *Config) {
	t.Helper()
	out, err := c.YAML()
	if err != nil {
		t.Fatalf("YAML(): %v", err)
	}
	again, err := Load(out)
	if err != nil {
		t.Fatalf("loading YAML() output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(again.Modules, c.Modules) {
		t.Fatalf("round trip changed the modules\n got: %+v\nwant: %+v", again.Modules, c.Modules)
	}
}

func TestProbeOptions(t *testing.T) {
	tests := []struct {
		name string
		m    Module
		want prober.Options
	}{
		{"defaults", NewModule(), prober.DefaultOptions()},
		{"everything", Module{
			Timeout:             model.Duration(time.Second),
			PreferredIPProtocol: "ip4",
			SourceIPAddress:     "127.0.0.2",
			SYNRetries:          3,
			Mark:                4294967295,
			Interface:           "lo",
			TOS:                 255,
		}, prober.Options{
			PreferredIPProtocol: prober.IP4,
			SourceIPAddress:     netip.MustParseAddr("127.0.0.2"),
			SYNRetries:          3,
			Mark:                4294967295,
			Interface:           "lo",
			TOS:                 255,
		}},
		{"ipv6 source", module(func(m *Module) { m.SourceIPAddress = "::1" }), prober.Options{
			PreferredIPProtocol: prober.IP6,
			IPProtocolFallback:  true,
			SourceIPAddress:     netip.IPv6Loopback(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.ProbeOptions(); got != tt.want {
				t.Errorf("ProbeOptions() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigModule(t *testing.T) {
	c, err := Load([]byte("modules:\n  tcp_fast: {timeout: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := c.Module("tcp_fast"); !ok || m.Timeout != model.Duration(time.Second) {
		t.Errorf("Module(tcp_fast) = %+v, %v; want the 1s module", m, ok)
	}
	if _, ok := c.Module("tcp_slow"); ok {
		t.Error("Module(tcp_slow) found a module that is not there")
	}
	var none *Config
	if _, ok := none.Module(DefaultModule); ok {
		t.Error("Module on a nil *Config found a module")
	}
}

func TestLoadFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yml")
	if err := os.WriteFile(broken, []byte("modules:\n  m: {tos: 300}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yml")
	tests := []struct {
		path string
		want string
	}{
		{broken, broken + `: config line 2: module "m": tos: 300 is out of range 0-255`},
		{missing, "reading config: open " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		_, err := LoadFile(tt.path)
		if err == nil || err.Error() != tt.want {
			t.Errorf("LoadFile(%q) error\n got: %v\nwant: %s", tt.path, err, tt.want)
		}
	}
	if _, err := LoadFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: %v does not wrap os.ErrNotExist", err)
	}
}

func TestQuoteShortensLongValues(t *testing.T) {
	long := strings.Repeat("é", 100)
	_, err := Load([]byte("modules:\n  m: {interface: " + long + "}\n"))
	if err == nil {
		t.Fatal("Load accepted a 200-byte interface name")
	}
	msg := err.Error()
	if len(msg) > 200 || !strings.Contains(msg, `"...`) {
		t.Errorf("error repeats the whole value: %s", msg)
	}
}

// TestMergeChainIsLinear guards against the "billion laughs" shape: each
// module merges the one before twice, which walked naively doubles the
// work at every level.
func TestMergeChainIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("modules:\n  l0: &l0 {tos: 1}\n")
	const levels = 64
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d {<<: [*l%d, *l%d]}\n", i, i, i-1, i-1)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load([]byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load of a chain of merges did not finish in 10s")
	}
}
