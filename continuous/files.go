package continuous

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

// targetFile is a file_sd file as last read successfully.
type targetFile struct {
	modTime time.Time
	size    int64
	groups  []config.TargetGroup
}

// fileCache holds the files of every group, so that a file that turns
// bad keeps the targets it had, and a poll re-reads only files that
// changed. It is used under Runner.applyMu.
type fileCache struct {
	// files are keyed by group module and path: a file's targets are
	// checked against its group's module.
	files map[string]*targetFile
}

// load returns each group's file targets, by the group's index. A file
// is read again when its size or modification time changed, or always
// with force (a reload, whose modules may have changed). changed says
// whether any group's targets differ from the last load; err joins the
// problems, each naming its file.
func (c *fileCache) load(cfg *config.Config, force bool) (byGroup map[int][]config.TargetGroup, changed bool, err error) {
	byGroup = map[int][]config.TargetGroup{}
	used := map[string]bool{}
	var errs []error
	for i, g := range cfg.Continuous {
		for _, pattern := range g.Files {
			paths, _ := filepath.Glob(pattern) // config checked the pattern
			for _, path := range paths {
				key := g.Module + "\x00" + path
				if used[key] {
					continue
				}
				used[key] = true
				f, fresh, err := c.read(key, path, cfg.Modules[g.Module], force)
				if err != nil {
					errs = append(errs, err)
				}
				changed = changed || fresh
				if f != nil {
					byGroup[i] = append(byGroup[i], f.groups...)
				}
			}
		}
	}
	for key := range c.files {
		if !used[key] {
			delete(c.files, key)
			changed = true
		}
	}
	if len(errs) == 0 {
		return byGroup, changed, nil
	}
	return byGroup, changed, fileErrors(errs)
}

// fileErrors are the problems of several files, on one line.
type fileErrors []error

func (e fileErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e fileErrors) Unwrap() []error { return e }

// read returns the file at path, read again if it changed. On failure it
// returns the copy from before, if any, with the error.
func (c *fileCache) read(key, path string, m config.Module, force bool) (f *targetFile, fresh bool, err error) {
	old := c.files[key]
	info, err := os.Stat(path)
	if err != nil {
		return old, false, fmt.Errorf("target file %s: %w", path, err)
	}
	if !force && old != nil && info.ModTime().Equal(old.modTime) && info.Size() == old.size {
		return old, false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return old, false, fmt.Errorf("target file %s: %w", path, err)
	}
	groups, err := config.LoadTargetFile(data, m)
	if err != nil {
		return old, false, fmt.Errorf("target file %s: %w", path, err)
	}
	f = &targetFile{modTime: info.ModTime(), size: info.Size(), groups: groups}
	c.files[key] = f
	return f, true, nil
}

// pollFiles re-reads changed files every resolve interval, until Close.
func (r *Runner) pollFiles() {
	defer r.stopped.Done()
	ticker := time.NewTicker(r.opts.ResolveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-ticker.C:
			r.refreshFiles(false)
		}
	}
}

// refreshFiles reads the files again and applies what changed; with
// force every file is read (a reload). A poll that finds a change or a
// new error reports it through Options.ReportFiles, after letting go of
// applyMu: the report takes the exporter's reload lock, which a reload
// holds while it calls Apply.
func (r *Runner) refreshFiles(force bool) error {
	report, err := r.reloadFiles(force)
	if report {
		if err != nil {
			level.Error(r.logger).Log("msg", "Error reading continuous target files; their targets stay as they were", "err", err)
		}
		if r.opts.ReportFiles != nil {
			r.opts.ReportFiles(err)
		}
	}
	return err
}

func (r *Runner) reloadFiles(force bool) (report bool, err error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.cfg == nil {
		return false, nil
	}
	files, changed, err := r.files.load(r.cfg, force)
	if changed || force {
		r.mu.Lock()
		r.applySpecs(r.specs(r.cfg, files), time.Now())
		r.mu.Unlock()
		r.poke()
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	report = !force && (changed || msg != r.lastFileErr)
	r.lastFileErr = msg
	return report, err
}

// Apply makes cfg's continuous groups the targets: unchanged targets
// keep their series and counters, removed ones lose them, new ones
// start. It reads every file again; a file that cannot be read or
// parsed keeps the targets it had, and the error, naming the file, is
// returned.
func (r *Runner) Apply(cfg *config.Config) error {
	r.applyMu.Lock()
	r.cfg = cfg
	r.applyMu.Unlock()
	return r.refreshFiles(true)
}

// CheckFiles reads the target files of cfg's groups as Apply would and
// returns what is wrong with them, for --config.check.
func CheckFiles(cfg *config.Config) error {
	c := fileCache{files: map[string]*targetFile{}}
	_, _, err := c.load(cfg, true)
	return err
}
