package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// TargetGroup is one entry of a Prometheus file_sd file: targets that
// share labels.
type TargetGroup struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// LoadTargetFile parses a file_sd document (YAML, or JSON, which is
// YAML too) for a continuous group whose checks use module m. Every
// target must pass m.CheckContinuousTarget. Labels whose names start with
// "__" are dropped, as Prometheus drops them after relabelling; other
// labels must pass CheckLabelName. Errors are one line with the line
// number where known.
func LoadTargetFile(data []byte, m Module) ([]TargetGroup, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var groups []TargetGroup
	if err := dec.Decode(&groups); err != nil && !errors.Is(err, io.EOF) {
		return nil, fileError(err)
	}
	for i := range groups {
		g := &groups[i]
		for _, target := range g.Targets {
			if err := m.CheckContinuousTarget(target); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i+1, err)
			}
		}
		for name := range g.Labels {
			if strings.HasPrefix(name, "__") {
				delete(g.Labels, name)
				continue
			}
			if err := CheckLabelName(name); err != nil {
				return nil, fmt.Errorf("entry %d: labels: %w", i+1, err)
			}
		}
	}
	return groups, nil
}

// fileError puts yaml.v3's error, which may span lines, on one.
func fileError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("want a list of {targets: [host:port...], labels: {...}}: %s", oneLine(strings.Join(te.Errors, "; ")))
	}
	return errors.New(oneLine(err.Error()))
}
