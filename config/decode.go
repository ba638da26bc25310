package config

import (
	"errors"
	"reflect"
	"strings"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// Config and Module walk their YAML nodes themselves instead of leaving
// the work to yaml.v3, for two reasons:
//   - strictness: Node.Decode, the only way a custom unmarshaler can decode,
//     starts a fresh decoder that ignores Decoder.KnownFields, so unknown keys
//     would pass silently;
//   - messages: yaml.v3's type errors name neither the module nor the field
//     ("line 3: cannot unmarshal !!str `x` into int").
// Each scalar value is still decoded by yaml.v3 (and model.Duration).

// UnmarshalYAML decodes the top-level mapping: "modules" and, for
// continuous mode, "continuous". Each module is decoded under its name so
// that errors can name it; the continuous groups are checked against the
// modules once both are known.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return errorAt(n, `want a mapping with a "modules" key, got %s`, describe(n))
	}
	values := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode || k.Value != "modules" && k.Value != "continuous":
			return errorAt(k, "unknown field %s", describeKey(k))
		case keys[k.Value] != nil:
			return errorAt(k, "%s: set twice (first on line %d)", k.Value, keys[k.Value].Line)
		}
		values[k.Value], keys[k.Value] = v, k
	}
	if values["modules"] == nil {
		return errorAt(n, "no modules defined")
	}
	ms, err := decodeModules(values["modules"])
	if err != nil {
		return err
	}
	var groups []ContinuousGroup
	if v := values["continuous"]; v != nil {
		if groups, err = decodeContinuous(v); err != nil {
			return err
		}
		if err := checkContinuous(groups, ms); err != nil {
			return err
		}
	}
	c.Modules, c.Continuous = ms, groups
	return nil
}

// decodeModules decodes the mapping of module names to modules.
func decodeModules(n *yaml.Node) (map[string]Module, error) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, errorAt(n, "no modules defined")
	}
	if n.Kind != yaml.MappingNode {
		return nil, errorAt(n, "modules: want a mapping of module names to modules, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return nil, errorAt(n, "no modules defined")
	}
	ms := make(map[string]Module, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, err := moduleName(k)
		if err != nil {
			return nil, err
		}
		if first, dup := lines[name]; dup {
			e := errorAt(k, "defined twice (first on line %d)", first)
			e.Module = name
			return nil, e
		}
		lines[name] = k.Line
		var m Module
		if err := m.UnmarshalYAML(v); err != nil {
			e := asConfigError(err)
			e.Module = name
			if e.Line == 0 {
				e.Line = k.Line
			}
			return nil, e
		}
		ms[name] = m
	}
	return ms, nil
}

// moduleName checks a module's key. Names end up in URLs (?module=) and in
// label values, so they are kept to characters that need no escaping.
func moduleName(k *yaml.Node) (string, error) {
	if k.Kind != yaml.ScalarNode {
		return "", errorAt(k, "module name must be a string, got %s", describe(k))
	}
	if k.Value == "" {
		return "", errorAt(k, "module name is empty")
	}
	for _, r := range k.Value {
		if !isNameRune(r) {
			e := errorAt(k, "name may only contain letters, digits, '_', '-' and '.'")
			e.Module = k.Value
			return "", e
		}
	}
	return k.Value, nil
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '-' || r == '.'
}

// UnmarshalYAML applies the defaults, decodes the fields given (so a module
// written as `{}` or with no value at all gets the defaults) and validates
// the result. Errors carry the line and field but not the module's name,
// which only the enclosing mapping knows.
func (m *Module) UnmarshalYAML(n *yaml.Node) error {
	*m = NewModule()
	d := moduleDecoder{
		module:  reflect.ValueOf(m).Elem(),
		lines:   map[string]int{},
		applied: map[*yaml.Node]bool{},
	}
	if err := d.mapping(n, false); err != nil {
		return err
	}
	given := func(field string) bool { _, ok := d.lines[field]; return ok }
	if err := m.validateGiven(given); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Line == 0 {
			e.Line = d.lines[e.Field]
		}
		return err
	}
	return nil
}

// moduleFields maps each YAML key of Module to its field index; the struct
// tags stay the one list of keys, shared with marshalling.
var moduleFields = yamlFields(reflect.TypeFor[Module]())

func yamlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
	}
	return fields
}

// moduleDecoder fills one Module from its mapping, one field at a time.
type moduleDecoder struct {
	module reflect.Value
	// lines records the line each field was set on, which also catches a
	// key given twice.
	lines map[string]int
	// applied holds the merge sources already applied. Applying one again
	// changes nothing, and skipping it keeps aliases of aliases from
	// multiplying the work (yaml.v3's own guard against that does not see
	// this walk).
	applied map[*yaml.Node]bool
}

// mapping decodes mapping n. merged is true inside a merge key's mapping
// (`<<: *base`), where, as YAML specifies, a key already set wins instead
// of clashing.
func (d *moduleDecoder) mapping(n *yaml.Node, merged bool) error {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errorAt(n, "want a mapping of settings, got %s", describe(n))
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return errorAt(k, "field name must be a string, got %s", describe(k))
		}
		idx, ok := moduleFields[k.Value]
		if !ok {
			return errorAt(k, "unknown field %s%s", quote.Short(k.Value), blackboxHint(k.Value))
		}
		if first, set := d.lines[k.Value]; set {
			if merged {
				continue
			}
			e := errorAt(k, "set twice (first on line %d)", first)
			e.Field = k.Value
			return e
		}
		if err := decodeValue(v, d.module.Field(idx), k.Value); err != nil {
			return err
		}
		d.lines[k.Value] = k.Line
	}
	// Explicit keys were decoded first: they win over merged ones wherever
	// the merge key stands.
	for _, m := range merges {
		if err := d.merge(m); err != nil {
			return err
		}
	}
	return nil
}

// merge applies a merge key's value: one mapping or a list of them,
// earlier ones winning.
func (d *moduleDecoder) merge(n *yaml.Node) error {
	n = resolveAlias(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, item := range items {
		src := resolveAlias(item)
		if src.Kind != yaml.MappingNode {
			return errorAt(item, "<<: want a mapping or a list of mappings to merge, got %s", describe(item))
		}
		if d.applied[src] {
			continue
		}
		d.applied[src] = true
		if err := d.mapping(src, true); err != nil {
			return err
		}
	}
	return nil
}

// decodeValue decodes one scalar into field, naming the field and the
// expected type on failure.
func decodeValue(n *yaml.Node, field reflect.Value, name string) error {
	n = resolveAlias(n)
	if field.Type() == targetPatternsType {
		return decodeTargetPatterns(n, field.Addr().Interface().(*TargetPatterns), name)
	}
	var err error
	if !isFraction(n, field.Type()) {
		if err = n.Decode(field.Addr().Interface()); err == nil {
			return nil
		}
	}
	e := errorAt(n, "want %s, got %s", typeName(field.Type()), describe(n))
	e.Field, e.Err = name, err
	return e
}

// isFraction catches a float given for an integer field, which yaml.v3
// would silently truncate (tos: 1.5 would become 1).
func isFraction(n *yaml.Node, t reflect.Type) bool {
	isInt := t.Kind() == reflect.Int || t.Kind() == reflect.Int64
	return isInt && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float"
}

var durationType = reflect.TypeFor[model.Duration]()

// typeName says in words what a field of type t takes.
func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "a duration such as 5s or 500ms"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return "a string"
}

// describeKey names a mapping key for an "unknown field" message.
func describeKey(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return quote.Short(k.Value)
	}
	return describe(k)
}

// resolveAlias follows an alias (*name) to the node it refers to. yaml.v3
// rejects an anchor that contains its own alias, so this ends.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
