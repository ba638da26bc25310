package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// Error is one problem found in a configuration document. Load reports
// every problem as an *Error, so a caller that needs the module or field
// gets them with errors.As rather than by reading the message.
type Error struct {
	// Line is the 1-based line of the problem; 0 when there is none (an
	// empty document) or yaml.v3 did not say.
	Line int
	// Module is the module's name; "" when the problem is outside modules.
	Module string
	// Group is the 1-based number of the continuous group with the
	// problem; 0 when the problem is outside continuous.
	Group int
	// Field is the module field whose value is wrong; "" when the problem
	// is not about one field's value.
	Field string
	// Msg says what is wrong, on one line.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error formats the problem on one line, most general part first, as in
// `config line 7: module "tcp_fast": tos: 300 is out of range 0-255`:
// log lines and the HTTP reload answer must not be split.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	if e.Module != "" {
		fmt.Fprintf(&b, "module %q: ", e.Module)
	}
	if e.Group > 0 {
		fmt.Fprintf(&b, "continuous group %d: ", e.Group)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// errorAt builds an *Error at a node's line.
func errorAt(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// asConfigError returns err as an *Error, flattening anything else (yaml.v3
// parser errors, and its type errors, which put each problem on its own
// line) into one line so that no caller has to.
func asConfigError(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return &Error{Msg: strings.Join(te.Errors, "; "), Err: err}
	}
	return &Error{Msg: oneLine(err.Error()), Err: err}
}

// oneLine joins the lines of s with "; ".
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

// describe names a node's value for an error message: strings quoted (and
// shortened), other scalars as written, collections by their kind.
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!int", "!!float", "!!bool":
		// An explicit tag lets any text through, so check before
		// printing it unquoted.
		if isPlainToken(n.Value) {
			return n.Value
		}
	}
	return quote.Short(n.Value)
}

// isPlainToken reports whether s is short printable ASCII without spaces.
func isPlainToken(s string) bool {
	if s == "" || len(s) > quote.MaxShown {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
