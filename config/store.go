package config

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultFile is the file used when no --config.file is given and it
// exists in the working directory.
const DefaultFile = "config.yml"

// EmbeddedSource is what Store.Source says when the configuration comes
// from the copy built into the binary.
const EmbeddedSource = "embedded default"

// ResolveSource chooses the configuration file: flagPath if given, else
// DefaultFile if it exists, else "" for the embedded copy. A DefaultFile
// that exists but cannot be read is still chosen, so that the error shows
// instead of a silent switch to the embedded defaults.
func ResolveSource(flagPath string) string {
	if flagPath != "" {
		return flagPath
	}
	if _, err := os.Stat(DefaultFile); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return DefaultFile
}

// Store holds the current configuration and reloads it from its source.
// It is safe for concurrent use: probes read with Current while a reload
// runs.
type Store struct {
	path     string
	embedded []byte

	// reloadMu makes concurrent reloads (SIGHUP and POST /-/reload) take
	// turns, so the last one to finish is the last one to have read the
	// file.
	reloadMu sync.Mutex
	current  atomic.Pointer[Config]
}

// NewStore returns a Store that loads path, or the embedded document when
// path is "" (see ResolveSource). It holds no configuration until the
// first successful Reload.
func NewStore(path string, embedded []byte) *Store {
	return &Store{path: path, embedded: embedded}
}

// Reload loads the source again. On failure the previous configuration
// stays in use and the error, one line naming the source, is returned.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	c, err := s.load()
	if err != nil {
		return err
	}
	s.current.Store(c)
	return nil
}

func (s *Store) load() (*Config, error) {
	if s.path != "" {
		return LoadFile(s.path)
	}
	return loadNamed(s.embedded, EmbeddedSource)
}

// Current returns the configuration last loaded successfully, or nil
// before the first. It must not be modified.
func (s *Store) Current() *Config {
	return s.current.Load()
}

// Source names where the configuration comes from: the file's path or
// EmbeddedSource.
func (s *Store) Source() string {
	if s.path == "" {
		return EmbeddedSource
	}
	return s.path
}
