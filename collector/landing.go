package collector

import (
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

// landingTemplate is the page at /. html/template escapes every value by
// its context, so targets, module names and error texts cannot inject
// markup. Every link is relative, so the page works under a route prefix
// and behind a proxy that strips one. It needs no script.
//
// The block "continuous" is where continuous mode shows its targets; it
// is given the whole page, whose Continuous field holds what it shows.
var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"duration": func(d time.Duration) string { return d.Round(time.Microsecond).String() },
	"age":      func(d time.Duration) string { return d.Round(time.Second).String() },
	"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
	"seconds":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"percent":  func(n, of int) int { return (100*n + of/2) / max(of, 1) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synack_exporter</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; }
nav a, nav strong { margin-right: 1em; }
form { margin: 1em 0; padding: 0.6em 0.8em; background: #f4f6f8; border: 1px solid #dde; display: inline-block; }
form label { margin-right: 1em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #ccd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, td.time, td.checks { white-space: nowrap; }
footer { margin-top: 1em; }
tr.failed { background: #fdecec; }
.state-ok { color: #17702a; font-weight: bold; }
.state-failed { color: #b00020; font-weight: bold; }
.note { color: #555; }
ul.addresses { margin: 0.2em 0 0 0; padding-left: 1.1em; }
</style>
</head>
<body>
<h1>synack_exporter</h1>
<p>Checks TCP ports with a half-open handshake: SYN out, SYN-ACK back, RST out.</p>
<p class="note">Version {{.Version}} (revision {{.Revision}}); config from {{.ConfigSource}}.</p>
<nav>
<a href="metrics">Metrics</a>
<a href="config">Configuration</a>
<a href="-/healthy">Health</a>
</nav>
<form action="probe">
<input type="hidden" name="debug" value="true">
<label>Target <input type="text" name="target" placeholder="host:port" required></label>
<label>Module <select name="module">
{{- range .Modules}}
<option{{if eq . $.DefaultModule}} selected{{end}}>{{.}}</option>
{{- end}}
</select></label>
<input type="submit" value="Probe with debug output">
</form>
{{.Continuous}}
<nav id="filter">Show:
{{if .FailuresOnly}}<a href="./">all</a> <strong>failures only</strong>{{else}}<strong>all</strong> <a href="?failures=1">failures only</a>{{end}}
</nav>
<h2>Targets</h2>
<p class="note">Each target with each module: its latest probe, since when that outcome has held (as far back as this process has seen it), and how many of its last {{.RecentProbes}} probes succeeded. Failing first.</p>
<table id="targets">
<tr><th>Module</th><th>Target</th><th>State</th><th>Since (UTC)</th><th>Recent probes</th><th>Latest result</th><th>Checks</th><th>SYN-ACK</th><th>Errno</th><th>Budget</th><th>Debug</th></tr>
{{range .Targets}}<tr{{if not .Up}} class="failed"{{end}}>
<td>{{.Module}}</td><td>{{.Target}}</td>
<td>{{if .Up}}<span class="state-ok">ok</span>{{else}}<span class="state-failed">failing</span>{{end}}{{with .Expect}} <span class="note">(expect {{.}})</span>{{end}}</td>
<td class="time">{{seconds .Since}} <span class="note">({{age .For}})</span></td>
<td class="num">{{.Succeeded}}/{{.Probes}} ({{percent .Succeeded .Probes}}%)</td>
{{template "outcome" .}}
<td><a href="logs?id={{.ID}}">logs</a></td>
</tr>
{{else}}<tr><td colspan="11" class="note">No probes yet.</td></tr>
{{end}}</table>
<h2>Recent probes</h2>
<p class="note">The last {{.Limit}} successes and, kept separately so that successes do not push them out, the last {{.Limit}} failures; newest first.</p>
<table id="probes">
<tr><th>Time (UTC)</th><th>Module</th><th>Target</th><th>Outcome</th><th>Result</th><th>Checks</th><th>SYN-ACK</th><th>Errno</th><th>Budget</th><th>Duration</th><th>Debug</th></tr>
{{range .Probes}}<tr{{if not .Up}} class="failed"{{end}}>
<td class="time">{{utc .Start}}</td><td>{{.Module}}</td><td>{{.Target}}</td>
<td>{{if .Up}}<span class="state-ok">success</span>{{else}}<span class="state-failed">failure</span>{{end}}{{with .Expect}} <span class="note">(expect {{.}})</span>{{end}}</td>
{{template "outcome" .}}
<td class="num">{{duration .Duration}}</td>
<td><a href="logs?id={{.ID}}">logs</a></td>
</tr>
{{else}}<tr><td colspan="11" class="note">No probes{{if .FailuresOnly}} failed{{end}} yet.</td></tr>
{{end}}</table>
<footer class="note" id="rendered">Rendered {{utc .Now}} UTC.</footer>
</body>
</html>
{{define "outcome"}}<td>{{.Result}}</td>
<td class="checks">{{with .Checks}}{{.}}{{with $.Loss}}, loss {{.}}{{end}}{{end}}
{{- with .Addresses}}<ul class="addresses">{{range .}}<li>{{.Addr}}: {{.Open}}/{{.Checks}} open{{if not .Up}} <span class="state-failed">failing</span>{{end}}</li>{{end}}</ul>{{end}}</td>
<td class="num">{{with .SYNACK}}{{duration .}}{{end}}</td>
<td class="errno">{{.Errno}}</td>
<td class="num">{{duration .Budget}}</td>{{end}}
`))

// landingPage is what landingTemplate shows.
type landingPage struct {
	Version, Revision string
	ConfigSource      string
	DefaultModule     string
	Modules           []string
	Limit             int
	RecentProbes      int
	FailuresOnly      bool
	Now               time.Time
	Targets           []targetView
	Probes            []landingRow
	// Continuous is continuous mode's part of the page
	// (Options.LandingSection), empty without it.
	Continuous template.HTML
}

// targetView is one row of the targets table.
type targetView struct {
	landingRow
	Since             time.Time
	For               time.Duration
	Succeeded, Probes int
}

// landing serves the landing page and keeps where each target stands.
type landing struct {
	e      *Exporter
	states *targetStates
	// now is the clock the page's ages are measured with.
	now func() time.Time
}

func newLanding(e *Exporter) *landing {
	limit := maxTargetStates
	if e.opts.HistoryLimit <= 0 {
		limit = 0
	}
	return &landing{e: e, states: newTargetStates(limit), now: time.Now}
}

// observe takes a finished probe into the targets' states.
func (l *landing) observe(rec *probeRecord) { l.states.observe(rec) }

func (l *landing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page := l.page(r.URL.Query().Get("failures") != "")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := landingTemplate.Execute(w, page); err != nil {
		level.Error(l.e.logger).Log("msg", "Error rendering the landing page", "err", err)
	}
}

// page gathers what the page shows; failuresOnly keeps the failing
// targets and failed probes.
func (l *landing) page(failuresOnly bool) landingPage {
	now := l.now()
	cfg := l.e.opts.Config.Current()
	page := landingPage{
		Version:       version.Version,
		Revision:      version.GetRevision(),
		ConfigSource:  l.e.opts.Config.Source(),
		DefaultModule: config.DefaultModule,
		Limit:         l.e.opts.HistoryLimit,
		RecentProbes:  recentProbes,
		FailuresOnly:  failuresOnly,
		Now:           now,
	}
	if l.e.opts.LandingSection != nil {
		page.Continuous = l.e.opts.LandingSection()
	}
	if cfg != nil {
		for name := range cfg.Modules {
			page.Modules = append(page.Modules, name)
		}
		slices.Sort(page.Modules)
	}
	for _, s := range l.states.list() {
		if failuresOnly && s.Up() {
			continue
		}
		page.Targets = append(page.Targets, targetView{
			landingRow: rowOf(s.Last), Since: s.Since, For: now.Sub(s.Since),
			Succeeded: s.Succeeded(), Probes: s.Probes(),
		})
	}
	for _, rec := range l.e.history.recent() {
		if failuresOnly && rec.Succeeded() {
			continue
		}
		page.Probes = append(page.Probes, rowOf(rec))
	}
	return page
}
