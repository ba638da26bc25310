package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestLoadContinuous(t *testing.T) {
	c, err := LoadFile(filepath.Join("testdata", "valid-continuous.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Continuous) != 3 {
		t.Fatalf("got %d groups, want 3", len(c.Continuous))
	}
	first := c.Continuous[0]
	if want := []string{"127.0.0.1:22", "[::1]:443", "db.example.net:5432"}; !reflect.DeepEqual(first.Targets, want) {
		t.Errorf("targets %q, want %q", first.Targets, want)
	}
	if first.Module != "tcp_fast" || first.Interval != model.Duration(100*time.Millisecond) || first.Line != 7 {
		t.Errorf("group 1 = %+v, want module tcp_fast, interval 100ms, line 7", first)
	}
	if want := map[string]string{"team": "db", "tier": "1"}; !reflect.DeepEqual(first.Labels, want) {
		t.Errorf("labels %v, want %v", first.Labels, want)
	}
	// Defaults; the same target may appear again with another module.
	second := c.Continuous[1]
	if second.Module != DefaultModule || second.Interval != DefaultContinuousInterval {
		t.Errorf("group 2 = %+v, want the default module and interval", second)
	}
	if got := first.BudgetFor(c.Modules["tcp_fast"]); got != 100*time.Millisecond {
		t.Errorf("budget %v, want the interval, 100ms, below the 250ms timeout", got)
	}
	// /config shows the groups.
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"continuous:", "interval: 100ms", "team: db"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
}

func TestLoadTargetFile(t *testing.T) {
	restricted := NewModule()
	restricted.AllowedTargets = mustPatterns(t, "127.0.0.0/8")
	tests := []struct {
		name, data string
		module     Module
		want       []TargetGroup
		err        string
	}{
		{"yaml", "- targets: [127.0.0.1:22]\n  labels: {team: db, __meta_x: y}\n", NewModule(),
			[]TargetGroup{{Targets: []string{"127.0.0.1:22"}, Labels: map[string]string{"team": "db"}}}, ""},
		{"json", `[{"targets": ["[::1]:80", "localhost:81"]}]`, NewModule(),
			[]TargetGroup{{Targets: []string{"[::1]:80", "localhost:81"}}}, ""},
		{"empty", "", NewModule(), nil, ""},
		{"bad target", "- targets: [127.0.0.1]\n", NewModule(), nil,
			`entry 1: target "127.0.0.1" is not host:port: missing port in address`},
		{"denied", "- targets: [127.0.0.1:22]\n- targets: [198.18.0.1:22]\n", restricted, nil,
			`entry 2: 198.18.0.1:22 matches no allowed_targets entry`},
		{"reserved label", "- targets: [127.0.0.1:22]\n  labels: {class: x}\n", NewModule(), nil,
			`entry 1: labels: "class" is set by the exporter itself`},
		{"unknown key", "- targets: [127.0.0.1:22]\n  label: {a: b}\n", NewModule(), nil,
			`want a list of {targets: [host:port...], labels: {...}}: line 2: field label not found in type config.TargetGroup`},
		{"syntax", "- targets: [127.0.0.1:22\n", NewModule(), nil,
			`yaml: line 1: did not find expected ',' or ']'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadTargetFile([]byte(tt.data), tt.module)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorGroupField(t *testing.T) {
	_, err := Load([]byte("modules:\n  m: {}\ncontinuous:\n  - targets: [127.0.0.1:22]\n    module: m\n    interval: 1ms\n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Group != 1 || ce.Field != "interval" || ce.Line != 6 {
		t.Errorf("error %#v, want group 1, field interval, line 6", err)
	}
}

func mustPatterns(t *testing.T, entries ...string) TargetPatterns {
	t.Helper()
	var ps TargetPatterns
	for _, e := range entries {
		p, err := ParseTargetPattern(e)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// FuzzLoadTargetFile checks that no file_sd document makes
// LoadTargetFile panic, that every error is one line, and that every
// target it accepts is one a continuous group would take.
func FuzzLoadTargetFile(f *testing.F) {
	for _, seed := range []string{
		"- targets: [127.0.0.1:22]\n  labels: {team: db}\n",
		`[{"targets": ["[::1]:80", "localhost:81"], "labels": {"__meta_x": "y"}}]`,
		"- targets: [127.0.0.1]\n",
		"- targets: [127.0.0.1:22\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := LoadTargetFile(data, NewModule())
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		for _, g := range groups {
			for _, target := range g.Targets {
				if err := checkTargetSyntax(target); err != nil {
					t.Fatalf("accepted target %q: %v", target, err)
				}
			}
			for name := range g.Labels {
				if err := CheckLabelName(name); err != nil {
					t.Fatalf("accepted label %q: %v", name, err)
				}
			}
		}
	})
}
