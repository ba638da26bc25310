package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// TargetPattern is one entry of a module's allowed_targets or
// denied_targets: an address, a CIDR or a host name pattern, each with an
// optional port or port range.
//
//	198.18.0.7            one address, every port
//	198.18.0.0/15:80-443  a CIDR, ports 80 to 443
//	::1  fd00::/8         IPv6 without a port needs no brackets
//	[fd00::/8]:22         IPv6 with a port does
//	db.example.internal   one host name, as written in the target
//	*.example.internal:22 any name below example.internal, port 22
//
// Addresses and CIDRs are matched against the address actually probed,
// after name resolution; name patterns against the target's host name.
type TargetPattern struct {
	text string // as written, for /config and messages
	// prefix is valid for an address or CIDR entry.
	prefix netip.Prefix
	// name is a name entry, lower case, without a final dot or the
	// wildcard's "*.".
	name string
	// wildcard is true for "*.name": names below name match, name does not.
	wildcard bool
	// lo and hi are the port range; 0, 0 means every port.
	lo, hi uint16
}

// TargetPatterns is a list of TargetPattern, in the order written.
type TargetPatterns []TargetPattern

// ParseTargetPattern parses one entry; see TargetPattern for the syntax.
// The error says what is wrong without repeating the whole entry.
func ParseTargetPattern(s string) (TargetPattern, error) {
	p := TargetPattern{text: s}
	host, ports, err := splitPattern(s)
	if err != nil {
		return p, err
	}
	if ports != nil {
		if p.lo, p.hi, err = parsePortRange(*ports); err != nil {
			return p, err
		}
	}
	bracketed := strings.HasPrefix(s, "[")
	switch {
	case host == "":
		err = errors.New("no address, CIDR or host name before the port")
	case strings.Contains(host, "/"):
		p.prefix, err = parsePrefix(host)
	case looksLikeAddr(host):
		var a netip.Addr
		if a, err = parseAddr(host); err == nil {
			p.prefix = netip.PrefixFrom(a, a.BitLen())
		}
	default:
		p.name, p.wildcard, err = parseNamePattern(host)
	}
	if err == nil && bracketed && !(p.prefix.IsValid() && p.prefix.Addr().Is6()) {
		err = errors.New("brackets are only for IPv6 addresses and CIDRs")
	}
	return p, err
}

// splitPattern cuts an entry into its host part and its port part (nil
// when there is none).
func splitPattern(s string) (host string, ports *string, err error) {
	if s == "" {
		return "", nil, errors.New("empty entry")
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		switch {
		case end < 0:
			return "", nil, errors.New("no closing ']'")
		case end == len(s)-1:
			return "", nil, errors.New("brackets are only needed with a port; leave them out")
		case s[end+1] != ':':
			return "", nil, errors.New("want ':' and a port after ']'")
		}
		rest := s[end+2:]
		return s[1:end], &rest, nil
	}
	// More than one colon: an IPv6 address or CIDR, which takes a port
	// only inside brackets.
	if strings.Count(s, ":") > 1 {
		return s, nil, nil
	}
	host, rest, found := strings.Cut(s, ":")
	if !found {
		return s, nil, nil
	}
	return host, &rest, nil
}

// parsePortRange reads "22" or "80-443", with the same rules as a
// target's port: decimal, no sign or leading zero, 1-65535.
func parsePortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, errors.New("no port after ':'")
	}
	first, last, isRange := strings.Cut(s, "-")
	if lo, err = parsePatternPort(first); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePatternPort(last); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("port range %d-%d ends before it starts", lo, hi)
	}
	return lo, hi, nil
}

func parsePatternPort(s string) (uint16, error) {
	shown := quote.Short(s)
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, fmt.Errorf("port %s is not a decimal number", shown)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("port %s has a leading zero", shown)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %s is out of range 1-65535", shown)
	}
	return uint16(n), nil
}

// looksLikeAddr tells an IP address from a host name: IPv6 has colons,
// and no top-level domain is all digits, so "10.0.0" is a broken address,
// not a name.
func looksLikeAddr(host string) bool {
	if strings.Contains(host, ":") {
		return true
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	return last != "" && !strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' })
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return a, fmt.Errorf("%s is not an IP address", quote.Short(s))
	case a.Zone() != "":
		// Targets are matched without their zone: a zone would suggest
		// a distinction the check does not make.
		return a, errors.New("zones are not compared; leave the zone out")
	case a.Is4In6():
		// Probed addresses are never IPv4-mapped: the prober unmaps them.
		return a, fmt.Errorf("IPv4-mapped addresses are never probed; write %s", a.Unmap())
	}
	return a, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	addr, bits, _ := strings.Cut(s, "/")
	a, err := parseAddr(addr)
	if err != nil && !a.Is4In6() {
		return netip.Prefix{}, err
	}
	p, perr := netip.ParsePrefix(s)
	switch {
	case a.Is4In6() && perr == nil && p.Bits() >= 96:
		return p, fmt.Errorf("IPv4-mapped addresses are never probed; write %s", netip.PrefixFrom(a.Unmap(), p.Bits()-96))
	case err != nil:
		return p, err
	case perr != nil:
		return p, fmt.Errorf("prefix length %s is not 0-%d", quote.Short(bits), a.BitLen())
	case p != p.Masked():
		// 10.0.0.1/8 is usually a typo for 10.0.0.1/32 or 10.0.0.0/8;
		// guessing could open far more than was meant.
		return p, fmt.Errorf("bits set after the prefix length; write %s", p.Masked())
	}
	return p, nil
}

// maxNameLen is the longest DNS name, as in prober's target check.
const maxNameLen = 253

// parseNamePattern checks a host name pattern: labels of letters, digits,
// '-' and '_', optionally "*." in front.
func parseNamePattern(s string) (name string, wildcard bool, err error) {
	name = strings.TrimSuffix(strings.ToLower(s), ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name, wildcard = rest, true
	}
	switch {
	case len(name) > maxNameLen:
		return "", false, fmt.Errorf("host name is longer than %d characters", maxNameLen)
	case name == "" || name == "*":
		return "", false, errors.New("a wildcard needs a domain after it, as in *.example.internal")
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return "", false, errors.New("empty label in host name")
		case strings.Contains(label, "*"):
			return "", false, errors.New("'*' is only allowed as the whole first label, as in *.example.internal")
		}
		if i := strings.IndexFunc(label, func(r rune) bool { return !isLabelRune(r) }); i >= 0 {
			r := []rune(label[i:])[0]
			return "", false, fmt.Errorf("%q is not allowed in a host name (addresses and CIDRs look like 198.18.0.0/15)", r)
		}
	}
	return name, wildcard, nil
}

func isLabelRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// String returns the entry as written.
func (p TargetPattern) String() string { return p.text }

// MarshalYAML writes the entry as written.
func (p TargetPattern) MarshalYAML() (any, error) { return p.text, nil }

func (p TargetPattern) matchPort(port uint16) bool {
	return p.lo == 0 || p.lo <= port && port <= p.hi
}

// matchAddr reports whether an address entry covers addr. The zone is
// dropped first: netip.Prefix.Contains never matches a zoned address,
// which would let "[fe80::1%eth0]:22" slip past a denied fe80::/10. An
// IPv4-mapped address is compared as the IPv4 address it reaches.
func (p TargetPattern) matchAddr(addr netip.AddrPort) bool {
	a := addr.Addr().Unmap().WithZone("")
	return p.prefix.IsValid() && p.prefix.Contains(a) && p.matchPort(addr.Port())
}

// matchName reports whether a name entry covers host (normalised by
// normalizeHost) at port.
func (p TargetPattern) matchName(host string, port uint16) bool {
	if p.name == "" || host == "" || !p.matchPort(port) {
		return false
	}
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.name)
	}
	return host == p.name
}

// normalizeHost returns the form name entries are compared with: lower
// case, no final dot; "" for an IP literal, which no name entry matches.
func normalizeHost(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

var targetPatternsType = reflect.TypeFor[TargetPatterns]()

// decodeTargetPatterns decodes the list of a target field. Each error
// names the entry and its own line; a list stays nil when empty, so that
// it marshals back the same.
func decodeTargetPatterns(n *yaml.Node, list *TargetPatterns, field string) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		*list = nil
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		e := errorAt(n, "want a list of addresses, CIDRs or host names, got %s", describe(n))
		e.Field = field
		return e
	}
	var ps TargetPatterns
	first := map[TargetPattern]int{} // by meaning, text left out
	for _, item := range n.Content {
		item = resolveAlias(item)
		p, err := decodeTargetPattern(item)
		if err == nil {
			key := p
			key.text = ""
			if line, dup := first[key]; dup {
				err = errorAt(item, "%s is listed twice (first on line %d)", quote.Short(item.Value), line)
			}
			first[key] = item.Line
		}
		if err != nil {
			err.Field = field
			return err
		}
		ps = append(ps, p)
	}
	*list = ps
	return nil
}

func decodeTargetPattern(n *yaml.Node) (TargetPattern, *Error) {
	// A plain [::1]:22 is a YAML list and *.name an alias: both must be
	// quoted, which the message says since the mistake is easy.
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return TargetPattern{}, errorAt(n, `want a string such as "198.18.0.0/15:80-443" (quote entries that start with '[' or '*'), got %s`, describe(n))
	}
	p, err := ParseTargetPattern(n.Value)
	if err != nil {
		e := errorAt(n, "%s: %v", quote.Short(n.Value), err)
		e.Err = err
		return p, e
	}
	return p, nil
}
