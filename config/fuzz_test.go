package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad checks that no document makes Load panic, that every error is
// one line, and that every accepted document survives the trip through
// YAML() unchanged.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(seeds, "../config.yml") {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		for name, m := range c.Modules {
			if err := m.validate(); err != nil {
				t.Fatalf("Load accepted module %q: %v", name, err)
			}
		}
		assertRoundTrip(t, c)
	})
}
