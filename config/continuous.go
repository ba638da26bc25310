package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Defaults and limits of a continuous group (see docs/continuous.md).
const (
	DefaultContinuousInterval = model.Duration(time.Second)
	// MinContinuousInterval keeps one target from becoming a flood: at
	// 100 checks a second a target's own SYN-ACK times are still far
	// apart from each other.
	MinContinuousInterval = model.Duration(10 * time.Millisecond)
)

// ContinuousGroup is one entry of the top-level `continuous:` list:
// targets checked on the exporter's own schedule, their results kept in
// counters and histograms on /metrics.
type ContinuousGroup struct {
	// Targets are host:port, as /probe takes them.
	Targets []string `yaml:"targets,omitempty"`
	// Files are globs of Prometheus file_sd files (YAML or JSON) whose
	// targets join the group; they are read by the continuous package,
	// not at load time.
	Files []string `yaml:"files,omitempty"`
	// Module names the module whose options every check uses; "" means
	// DefaultModule.
	Module string `yaml:"module,omitempty"`
	// Interval is how often each target is checked.
	Interval model.Duration `yaml:"interval,omitempty"`
	// Labels are added to every series of the group.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Line is where the group starts in the file, for messages.
	Line int `yaml:"-"`
	// targetLines are the lines of Targets, for messages.
	targetLines []int
}

// reservedLabels are the label names continuous series set themselves;
// le and quantile belong to histograms and summaries.
var reservedLabels = []string{"module", "target", "address", "class", "le", "quantile"}

// groupFields are the keys of a continuous group.
var groupFields = []string{"targets", "files", "module", "interval", "labels"}

// decodeContinuous decodes the top-level continuous list. Groups are
// checked against the modules later, in checkContinuous, since the
// modules may come after them in the file.
func decodeContinuous(n *yaml.Node) ([]ContinuousGroup, error) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errorAt(n, "continuous: want a list of groups (targets or files, module, interval, labels), got %s", describe(n))
	}
	groups := make([]ContinuousGroup, 0, len(n.Content))
	for i, item := range n.Content {
		g, err := decodeGroup(item)
		if err != nil {
			err.Group = i + 1
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// decodeGroup decodes one group's mapping.
func decodeGroup(n *yaml.Node) (ContinuousGroup, *Error) {
	n = resolveAlias(n)
	g := ContinuousGroup{Line: n.Line, Module: DefaultModule, Interval: DefaultContinuousInterval}
	if n.Kind != yaml.MappingNode {
		return g, errorAt(n, "want a mapping with targets or files, got %s", describe(n))
	}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return g, errorAt(k, "field name must be a string, got %s", describe(k))
		}
		if !slices.Contains(groupFields, k.Value) {
			return g, errorAt(k, "unknown field %s (a group has %s)", quote.Short(k.Value), strings.Join(groupFields, ", "))
		}
		if first, set := lines[k.Value]; set {
			return g, fieldError(k, k.Value, "set twice (first on line %d)", first)
		}
		lines[k.Value] = k.Line
		if err := g.decodeField(k.Value, v); err != nil {
			return g, err
		}
	}
	if len(g.Targets) == 0 && len(g.Files) == 0 {
		return g, errorAt(n, "a group needs targets or files")
	}
	return g, nil
}

// decodeField decodes the value v of the group's field name.
func (g *ContinuousGroup) decodeField(name string, v *yaml.Node) *Error {
	switch name {
	case "targets":
		return decodeStrings(v, name, &g.Targets, &g.targetLines, checkTargetSyntax)
	case "files":
		return decodeStrings(v, name, &g.Files, nil, checkGlob)
	case "module":
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
			return fieldError(v, name, "want a module name, got %s", describe(v))
		}
		g.Module = v.Value
	case "interval":
		if v.Kind != yaml.ScalarNode || v.Decode(&g.Interval) != nil {
			return fieldError(v, name, "want a duration such as 1s or 500ms, got %s", describe(v))
		}
		if g.Interval < MinContinuousInterval {
			return fieldError(v, name, "%s is below the minimum %s", g.Interval, MinContinuousInterval)
		}
	case "labels":
		return decodeLabels(v, &g.Labels)
	}
	return nil
}

// decodeStrings decodes a list of strings, each checked by check, none
// given twice; outLines, if not nil, gets their lines.
func decodeStrings(n *yaml.Node, field string, out *[]string, outLines *[]int, check func(string) error) *Error {
	if n.Kind != yaml.SequenceNode {
		return fieldError(n, field, "want a list, got %s", describe(n))
	}
	lines := map[string]int{}
	for _, item := range n.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			return fieldError(item, field, "want a string, got %s", describe(item))
		}
		if first, dup := lines[item.Value]; dup {
			return fieldError(item, field, "%s is listed twice (first on line %d)", quote.Short(item.Value), first)
		}
		lines[item.Value] = item.Line
		if err := check(item.Value); err != nil {
			e := fieldError(item, field, "%v", err)
			e.Err = err
			return e
		}
		*out = append(*out, item.Value)
		if outLines != nil {
			*outLines = append(*outLines, item.Line)
		}
	}
	return nil
}

// decodeLabels decodes a mapping of label names to values.
func decodeLabels(n *yaml.Node, out *map[string]string) *Error {
	if n.Kind != yaml.MappingNode {
		return fieldError(n, "labels", "want a mapping of label names to values, got %s", describe(n))
	}
	labels := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return fieldError(k, "labels", "label name must be a string, got %s", describe(k))
		}
		if err := CheckLabelName(k.Value); err != nil {
			return fieldError(k, "labels", "%v", err)
		}
		if _, dup := labels[k.Value]; dup {
			return fieldError(k, "labels", "%s is set twice", quote.Short(k.Value))
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
			return fieldError(v, "labels", "%s: want a value, got %s", k.Value, describe(v))
		}
		labels[k.Value] = v.Value
	}
	*out = labels
	return nil
}

// CheckLabelName refuses a label name that Prometheus would not take or
// that a continuous series sets itself.
func CheckLabelName(name string) error {
	switch {
	case !model.LegacyValidation.IsValidLabelName(name):
		return fmt.Errorf("%s is not a valid label name", quote.Short(name))
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("%s: names starting with __ are reserved", quote.Short(name))
	case slices.Contains(reservedLabels, name):
		return fmt.Errorf("%s is set by the exporter itself", quote.Short(name))
	}
	return nil
}

func checkTargetSyntax(target string) error {
	_, _, err := prober.ParseTarget(target)
	return err
}

func checkGlob(pattern string) error {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return fmt.Errorf("%s is not a valid glob: %w", quote.Short(pattern), err)
	}
	return nil
}

// checkContinuous checks each group against the modules: the module
// exists and suits continuous checks, and every target is one its
// target lists allow. A (module, target) pair may appear only once.
func checkContinuous(groups []ContinuousGroup, modules map[string]Module) error {
	seen := map[string]int{} // module + " " + target -> group number
	for i := range groups {
		g := &groups[i]
		m, ok := modules[g.Module]
		if !ok {
			return &Error{Line: g.Line, Group: i + 1, Field: "module", Msg: fmt.Sprintf("%s is not defined in modules", quote.Short(g.Module))}
		}
		if err := checkContinuousModule(m); err != nil {
			return &Error{Line: g.Line, Group: i + 1, Field: "module", Msg: fmt.Sprintf("%s %v", quote.Short(g.Module), err)}
		}
		for j, target := range g.Targets {
			line := g.Line
			if j < len(g.targetLines) {
				line = g.targetLines[j]
			}
			if err := m.CheckContinuousTarget(target); err != nil {
				return &Error{Line: line, Group: i + 1, Field: "targets", Msg: err.Error(), Err: err}
			}
			key := g.Module + " " + target
			if first, dup := seen[key]; dup {
				return &Error{Line: line, Group: i + 1, Field: "targets",
					Msg: fmt.Sprintf("%s with module %s is already in group %d", quote.Short(target), g.Module, first)}
			}
			seen[key] = i + 1
		}
	}
	return nil
}

// checkContinuousModule refuses the options that make sense only for a
// probe: a continuous group checks each address once per interval.
func checkContinuousModule(m Module) error {
	switch {
	case m.SYNCount > 1:
		return fmt.Errorf("has syn_count %d; continuous mode sends one SYN per address and interval (lower the interval instead)", m.SYNCount)
	case m.MinOpenRatio != 0:
		return fmt.Errorf("has min_open_ratio, which continuous mode does not use")
	}
	return nil
}

// CheckContinuousTarget checks a target of a continuous group using m:
// host:port syntax, and the module's target lists. An IP literal is
// checked as an address, so one outside allowed_targets or inside
// denied_targets is refused now rather than skipped at every interval; a
// name only against the name patterns, since its addresses are known
// only once resolved.
func (m Module) CheckContinuousTarget(target string) error {
	host, port, err := prober.ParseTarget(target)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return m.PermitName(host, port)
	}
	if !m.RestrictsTargets() {
		return nil
	}
	return m.PermitTarget(host, netip.AddrPortFrom(addr.Unmap().WithZone(""), port))
}

// BudgetFor is a continuous check's time budget: the module's timeout,
// but never more than the interval, so that one check ends before the
// next is due.
func (g ContinuousGroup) BudgetFor(m Module) time.Duration {
	return min(time.Duration(m.Timeout), time.Duration(g.Interval))
}

// fieldError is errorAt for a named field of a group.
func fieldError(n *yaml.Node, field, format string, args ...any) *Error {
	e := errorAt(n, format, args...)
	e.Field = field
	return e
}
