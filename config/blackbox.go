package config

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A blackbox_exporter module moved over as it is meets fields ours do
// not have. Those whose value changes nothing for a half-open check
// (prober: tcp, tls: false, an empty query_response) are accepted and set
// nothing; every other one gets a message that says what to do instead
// of a bare "unknown field".

// migrationDoc is where each message sends the reader.
const migrationDoc = "see docs/blackbox-migration.md"

// keepInBlackbox ends the message of a setting that only
// blackbox_exporter can honour.
const keepInBlackbox = "keep this module in blackbox_exporter (" + migrationDoc + ")"

// otherProbers are blackbox_exporter's probers other than tcp; each has a
// settings block of its own name.
var otherProbers = map[string]bool{"http": true, "icmp": true, "dns": true, "grpc": true}

// otherProberSettings lists settings of each other prober, as someone
// following "move the fields up" would write them in the module.
var otherProberSettings = map[string][]string{
	"http": {"valid_status_codes", "valid_http_versions", "method", "headers", "body",
		"body_size_limit", "compression", "follow_redirects", "no_follow_redirects",
		"fail_if_ssl", "fail_if_not_ssl", "fail_if_body_matches_regexp",
		"fail_if_body_not_matches_regexp", "fail_if_header_matches",
		"fail_if_header_not_matches", "basic_auth", "bearer_token", "proxy_url"},
	"icmp": {"payload_size", "dont_fragment", "ttl"},
	"dns": {"query_name", "query_type", "query_class", "valid_rcodes", "validate_answer_rrs",
		"validate_authority_rrs", "validate_additional_rrs", "transport_protocol",
		"dns_over_tls", "recursion_desired"},
	"grpc": {"service"},
}

// isBlackboxField reports whether name is a field of a blackbox_exporter
// module (or of its tcp: block) that blackboxField knows.
func isBlackboxField(name string) bool {
	switch name {
	case "prober", "tcp", "tls", "tls_config", "query_response":
		return true
	}
	return otherProbers[name]
}

// foreignProber returns the one problem of a module whose prober: is not
// tcp, or nil. Following "move the fields up" for such a module would
// give a valid TCP module under, say, the name http_2xx: a silent wrong
// migration.
func foreignProber(n *yaml.Node) *Error {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "prober" {
			return proberProblem(k, v)
		}
	}
	return nil
}

// proberProblem checks the value of prober:, which may only be tcp.
func proberProblem(k, v *yaml.Node) *Error {
	var e *Error
	switch {
	case v.Kind == yaml.ScalarNode && v.Value == "tcp":
		return nil
	case v.Kind == yaml.ScalarNode && otherProbers[v.Value]:
		e = errorAt(k, "%s: synack_exporter checks only TCP ports with a half-open handshake; %s", v.Value, keepInBlackbox)
	default:
		e = errorAt(k, "want tcp (or no prober: at all), got %s; %s", describe(v), migrationDoc)
	}
	e.Field = "prober"
	return e
}

// blackboxField checks one field for which isBlackboxField is true and
// returns its problems; none when its value changes nothing.
func blackboxField(k, v *yaml.Node) []*Error {
	v = resolveAlias(v)
	var e *Error
	switch name := k.Value; {
	case name == "prober":
		e = proberProblem(k, v)
	case name == "tcp":
		return tcpBlock(k, v)
	case name == "tls" && isFalse(v):
	case name == "tls" && !isBool(v):
		e = errorAt(k, "want false (a half-open check never reaches TLS), got %s", describe(v))
	case name == "tls", name == "tls_config":
		e = errorAt(k, "a half-open check never reaches TLS; %s", keepInBlackbox)
	case name == "query_response" && isEmpty(v):
	case name == "query_response":
		e = errorAt(k, "a half-open check sends no data; %s", keepInBlackbox)
	default: // the block of another prober
		e = errorAt(k, "settings of blackbox_exporter's %s prober; synack_exporter checks only TCP ports: %s", name, keepInBlackbox)
	}
	if e == nil {
		return nil
	}
	e.Field = k.Value
	return []*Error{e}
}

// tcpBlock is blackbox_exporter's tcp: settings. Its fields move up one
// level; those that cannot move get their own problem at their own line.
func tcpBlock(k, v *yaml.Node) []*Error {
	e := errorAt(k, `blackbox_exporter style: move the fields under "tcp:" up into the module (%s)`, migrationDoc)
	e.Field = "tcp"
	errs := []*Error{e}
	if v.Kind != yaml.MappingNode {
		return errs
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		ck, cv := v.Content[i], v.Content[i+1]
		if ck.Kind == yaml.ScalarNode && isBlackboxField(ck.Value) && ck.Value != "tcp" {
			errs = append(errs, blackboxField(ck, cv)...)
		}
	}
	return errs
}

// unknownFieldHint returns ": " and what to do about an unknown field
// that another blackbox_exporter prober has, or "".
func unknownFieldHint(field string) string {
	for prober, settings := range otherProberSettings {
		if slices.Contains(settings, field) || strings.HasPrefix(field, prober+"_") {
			return ": a setting of blackbox_exporter's " + prober + " prober; synack_exporter checks only TCP ports: " + keepInBlackbox
		}
	}
	return ""
}

// isBool reports a node that is YAML's true or false.
func isBool(n *yaml.Node) bool {
	var b bool
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Decode(&b) == nil
}

// isEmpty reports a node that is null or an empty list or mapping.
func isEmpty(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return n.ShortTag() == "!!null"
	}
	return (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) == 0
}

// isFalse reports a node that is YAML's false.
func isFalse(n *yaml.Node) bool {
	var b bool
	return isBool(n) && n.Decode(&b) == nil && !b
}
