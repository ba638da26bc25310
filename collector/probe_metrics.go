package collector

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// probeFamily is one family of the /probe answer (see probeFamilies).
type probeFamily struct {
	name, help, helpMany string
	write                func(b []byte, v probeView) []byte
	// header and headerMany are the HELP and TYPE lines for each kind
	// of answer, rendered once; empty where the family is not written.
	header, headerMany string
}

// sortFamilies renders the families' headers and sorts them by name.
func sortFamilies(fs []probeFamily) []probeFamily {
	for i := range fs {
		f := &fs[i]
		if f.helpMany == "" {
			f.helpMany = f.help
		}
		f.header, f.headerMany = familyHeader(f.name, f.help), familyHeader(f.name, f.helpMany)
	}
	slices.SortFunc(fs, func(a, b probeFamily) int { return strings.Compare(a.name, b.name) })
	return fs
}

func familyHeader(name, help string) string {
	if help == "" {
		return ""
	}
	// Text format 0.0.4 escapes backslash and newline in HELP.
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n"
}

// labelSeries is one series of a family with one label, rendered up to
// its value, and the key its label value names.
type labelSeries[K fmt.Stringer] struct {
	key    K
	prefix string
}

// seriesByLabel renders one series of the family name per key, in the
// order of their label values, as a registry sorts them.
func seriesByLabel[K fmt.Stringer](name, label string, keys []K) []labelSeries[K] {
	keys = slices.SortedFunc(slices.Values(keys), func(a, b K) int {
		return strings.Compare(a.String(), b.String())
	})
	series := make([]labelSeries[K], len(keys))
	for i, k := range keys {
		series[i] = labelSeries[K]{k, name + "{" + label + `="` + k.String() + `"} `}
	}
	return series
}

// metricsContentType is what a registry behind promhttp answers a
// Prometheus scrape with; the names here need no escaping.
var metricsContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain).WithEscapingScheme(model.UnderscoreEscaping))

// appendMetrics appends the probe's answer in the text exposition format,
// byte for byte what a registry holding these gauges would write: HELP,
// TYPE, families sorted by name. Writing it directly spares each probe a
// registry, its consistency checks and the generic encoder, which cost
// several times the check itself (see collector/bench_test.go).
func (rec *probeRecord) appendMetrics(b []byte) []byte {
	v := rec.view()
	for i := range probeFamilies {
		f := &probeFamilies[i]
		header := f.header
		if v.many != nil {
			header = f.headerMany
		}
		if header == "" {
			continue
		}
		start := len(b)
		b = append(b, header...)
		samples := len(b)
		// A family with no sample for this probe leaves no header.
		if b = f.write(b, v); len(b) == samples {
			b = b[:start]
		}
	}
	return b
}

// sample appends a family's only sample.
func sample(b []byte, name string, v float64) []byte {
	return appendValue(append(append(b, name...), ' '), v)
}

// sampleIf is sample when ok, else nothing.
func sampleIf(b []byte, ok bool, name string, v float64) []byte {
	if !ok {
		return b
	}
	return sample(b, name, v)
}

// samplesByLabel appends one sample per series, valued by value.
func samplesByLabel[K fmt.Stringer](b []byte, series []labelSeries[K], value func(K) float64) []byte {
	for _, s := range series {
		b = appendValue(append(b, s.prefix...), value(s.key))
	}
	return b
}

// appendValue ends a sample line with v formatted as expfmt does: the
// shortest 'g' form, which also gives "+Inf", "-Inf" and "NaN".
func appendValue(b []byte, v float64) []byte {
	return append(strconv.AppendFloat(b, v, 'g', -1, 64), '\n')
}

func ipProtocol(addr netip.AddrPort) float64 {
	switch {
	case !addr.IsValid():
		return 0
	case addr.Addr().Unmap().Is4():
		return 4
	}
	return 6
}

// ipAddrHash is blackbox_exporter's probe_ip_addr_hash: FNV-32a over the
// address's bytes, 4 of them for an IPv4 address (mapped into IPv6 or
// not), 16 for IPv6, so the two exporters give the same value.
func ipAddrHash(ip netip.Addr) float64 {
	h := fnv.New32a()
	h.Write(ip.Unmap().AsSlice())
	return float64(h.Sum32())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
