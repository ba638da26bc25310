package main

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/common/version"
	"go.yaml.in/yaml/v3"
)

// promuConfig is the schema promu reads .promu.yml into (promu's cmd.Config,
// whose YAML keys are its lower-cased field names). promu rejects unknown
// keys, so the test does too.
type promuConfig struct {
	Go struct {
		CGo     bool `yaml:"cgo"`
		Version string
	}
	Repository struct{ Path string }
	Build      struct {
		Binaries   []struct{ Name, Path string }
		Flags      string
		LDFlags    string   `yaml:"ldflags"`
		ExtLDFlags []string `yaml:"extldflags"`
		Tags       map[string][]string
		Prefix     string
		Static     *bool
	}
	Crossbuild struct{ Platforms []string }
	Tarball    struct {
		Files  []string
		Prefix string
	}
}

func readPromuConfig(t *testing.T) promuConfig {
	t.Helper()
	data, err := os.ReadFile(".promu.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c promuConfig
	if err := dec.Decode(&c); err != nil {
		t.Fatalf(".promu.yml: %v", err)
	}
	return c
}

// goModDirectives returns the module path and go version of go.mod.
func goModDirectives(t *testing.T) (module, goVersion string) {
	t.Helper()
	f, err := os.Open("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		switch fields := strings.Fields(s.Text()); {
		case len(fields) == 2 && fields[0] == "module":
			module = fields[1]
		case len(fields) == 2 && fields[0] == "go":
			goVersion = fields[1]
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return module, goVersion
}

func readVersionFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestPromuConfig checks that .promu.yml builds this module's binary, as a
// static binary, with the Go release go.mod names, and ships files that
// exist.
func TestPromuConfig(t *testing.T) {
	c := readPromuConfig(t)
	module, goVersion := goModDirectives(t)

	if c.Repository.Path != module {
		t.Errorf("repository.path = %q, want the module path %q", c.Repository.Path, module)
	}
	binary := path.Base(module)
	if len(c.Build.Binaries) != 1 || c.Build.Binaries[0].Name != binary || (c.Build.Binaries[0].Path != "" && c.Build.Binaries[0].Path != ".") {
		t.Errorf("build.binaries = %+v, want one binary %q built from the repository root", c.Build.Binaries, binary)
	}
	// go.mod says 1.26.8; promu wants the release, 1.26.
	if want := strings.Join(strings.SplitN(goVersion, ".", 3)[:2], "."); c.Go.Version != want {
		t.Errorf("go.version = %q, want %q to match go.mod's go %s", c.Go.Version, want, goVersion)
	}
	if c.Go.CGo {
		t.Error("go.cgo is true; the release binary and the busybox image need a static, cgo-free build")
	}
	for _, f := range c.Tarball.Files {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("tarball.files: %v", err)
		}
	}
	for _, f := range []string{"LICENSE", "NOTICE"} {
		if _, err := os.Stat(f); err == nil && !slices.Contains(c.Tarball.Files, f) {
			t.Errorf("tarball.files lacks %s, which exists", f)
		}
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "freebsd/amd64", "windows/amd64"} {
		if !slices.Contains(c.Crossbuild.Platforms, p) {
			t.Errorf("crossbuild.platforms lacks %s", p)
		}
	}
}

// TestPromuLDFlags renders build.ldflags as promu does and checks that it
// sets each variable of prometheus/common/version that --version and
// build_info print, each from the right source. .ci/release-checks.sh then
// builds with them and reads the values back from the binary.
func TestPromuLDFlags(t *testing.T) {
	c := readPromuConfig(t)
	buildDate := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	tmpl, err := template.New("ldflags").Funcs(template.FuncMap{
		"date":     buildDate.Format,
		"host":     func() string { return "test-host" },
		"user":     func() string { return "test-user" },
		"repoPath": func() string { return c.Repository.Path },
	}).Parse(c.Build.LDFlags)
	if err != nil {
		t.Fatalf("build.ldflags: %v", err)
	}
	// The fields of promu's repository.Info.
	info := struct{ Name, Branch, Version, Revision string }{
		Name: "synack_exporter", Branch: "test-branch", Version: "9.8.7", Revision: "test-revision",
	}
	var rendered strings.Builder
	if err := tmpl.Execute(&rendered, info); err != nil {
		t.Fatalf("build.ldflags: %v", err)
	}

	const pkg = "github.com/prometheus/common/version."
	vars := map[string]*string{
		pkg + "Version":   &version.Version,
		pkg + "Revision":  &version.Revision,
		pkg + "Branch":    &version.Branch,
		pkg + "BuildUser": &version.BuildUser,
		pkg + "BuildDate": &version.BuildDate,
	}
	want := map[string]string{
		pkg + "Version":   "9.8.7",
		pkg + "Revision":  "test-revision",
		pkg + "Branch":    "test-branch",
		pkg + "BuildUser": "test-user@test-host",
		pkg + "BuildDate": "20310203-04:05:06",
	}
	got := map[string]string{}
	fields := strings.Fields(rendered.String())
	for i := 0; i < len(fields); i++ {
		if fields[i] != "-X" || i+1 == len(fields) {
			t.Fatalf("build.ldflags: want only -X symbol=value pairs, got %q in %q", fields[i], rendered.String())
		}
		i++
		sym, value, ok := strings.Cut(fields[i], "=")
		if !ok {
			t.Fatalf("build.ldflags: -X %q has no '='", fields[i])
		}
		if _, known := vars[sym]; !known {
			t.Errorf("build.ldflags sets %s, not one of prometheus/common/version's variables", sym)
		}
		if _, twice := got[sym]; twice {
			t.Errorf("build.ldflags sets %s twice", sym)
		}
		got[sym] = value
	}
	for sym, w := range want {
		if got[sym] != w {
			t.Errorf("build.ldflags sets %s to %q, want %q", sym, got[sym], w)
		}
	}

	// What the linker would write is what --version prints.
	for sym, v := range vars {
		old := *v
		*v = got[sym]
		t.Cleanup(func() { *v = old })
	}
	printed := version.Print(info.Name)
	for _, w := range want {
		if !strings.Contains(printed, w) {
			t.Errorf("version.Print lacks %q:\n%s", w, printed)
		}
	}
}

// TestVersionFile checks VERSION, which promu uses as {{.Version}}, and
// that CHANGELOG.md has a section for it.
func TestVersionFile(t *testing.T) {
	v := readVersionFile(t)
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Fatalf("VERSION %q is not a semantic version such as 0.1.0", v)
	}
	changelog, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(v) + ` / \S`)
	if !heading.Match(changelog) {
		t.Errorf("CHANGELOG.md has no %q heading for VERSION", "## "+v+" / <date or unreleased>")
	}
}
