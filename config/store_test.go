package config

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const (
	goodConfig  = "modules:\n  tcp_synack: {}\n"
	otherConfig = "modules:\n  tcp_fast: {timeout: 1s}\n"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStoreEmbedded(t *testing.T) {
	s := NewStore("", []byte(goodConfig))
	if got := s.Source(); got != "embedded default" {
		t.Errorf("Source() = %q, want %q", got, "embedded default")
	}
	if s.Current() != nil {
		t.Error("Current() is set before the first Reload")
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Current().Module(DefaultModule); !ok {
		t.Errorf("embedded config has no %s module", DefaultModule)
	}
}

func TestStoreEmbeddedBroken(t *testing.T) {
	s := NewStore("", []byte("modules: {}\n"))
	err := s.Reload()
	const want = "embedded default: config line 1: no modules defined"
	if err == nil || err.Error() != want {
		t.Errorf("Reload() error\n got: %v\nwant: %s", err, want)
	}
}

// TestStoreReloadKeepsPrevious breaks the file in every way a reload can
// meet and checks that probes keep the last good configuration.
func TestStoreReloadKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	writeFile(t, path, goodConfig)
	s := NewStore(path, nil)
	if got := s.Source(); got != path {
		t.Errorf("Source() = %q, want %q", got, path)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	good := s.Current()

	breakages := []struct {
		name    string
		breakIt func(t *testing.T)
		want    string // a part of the error
	}{
		{"invalid", func(t *testing.T) {
			writeFile(t, path, "modules:\n  tcp_synack: {tos: 300}\n")
		}, path + `: config line 2: module "tcp_synack": tos: 300 is out of range 0-255`},
		{"not yaml", func(t *testing.T) {
			writeFile(t, path, "modules: [\n")
		}, path + ": config: yaml: "},
		{"missing", func(t *testing.T) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "no such file or directory"},
		{"a directory", func(t *testing.T) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
		}, "is a directory"},
		{"unreadable", func(t *testing.T) {
			if os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			writeFile(t, path, goodConfig)
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
		}, "permission denied"},
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			b.breakIt(t)
			err := s.Reload()
			if err == nil {
				t.Fatal("Reload() succeeded")
			}
			if !strings.Contains(err.Error(), b.want) {
				t.Errorf("Reload() error %q does not contain %q", err, b.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("Reload() error is not one line: %q", err)
			}
			if s.Current() != good {
				t.Error("a failed Reload replaced the configuration")
			}
		})
	}

	writeFile(t, path, otherConfig)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload() after repair: %v", err)
	}
	if _, ok := s.Current().Module("tcp_fast"); !ok {
		t.Error("Reload() after repair did not load the new file")
	}
}

func TestStoreConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, goodConfig)
	s := NewStore(path, nil)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if i%2 == 0 {
					if err := s.Reload(); err != nil {
						t.Error(err)
						return
					}
				} else if _, ok := s.Current().Module(DefaultModule); !ok {
					t.Errorf("Current() lost %s during reloads", DefaultModule)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestResolveSource(t *testing.T) {
	withDefault := t.TempDir()
	writeFile(t, filepath.Join(withDefault, DefaultFile), goodConfig)
	withDirectory := t.TempDir()
	if err := os.Mkdir(filepath.Join(withDirectory, DefaultFile), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		dir      string
		flagPath string
		want     string
	}{
		{"flag wins", withDefault, "/etc/synack.yml", "/etc/synack.yml"},
		{"flag wins even if missing", t.TempDir(), "missing.yml", "missing.yml"},
		{"default file", withDefault, "", DefaultFile},
		{"embedded", t.TempDir(), "", ""},
		// Reloads then fail loudly instead of silently using the
		// embedded modules.
		{"default that cannot be read", withDirectory, "", DefaultFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.dir)
			if got := ResolveSource(tt.flagPath); got != tt.want {
				t.Errorf("ResolveSource(%q) = %q, want %q", tt.flagPath, got, tt.want)
			}
		})
	}
}
