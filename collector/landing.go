package collector

import (
	"html/template"
	"net/http"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/seed-5ff58b3a/synack_exporter/config"
)

// landingTemplate is the page at /. html/template escapes every value by
// its context, so targets, module names and error texts cannot inject
// markup.
var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"duration": func(d time.Duration) string { return d.Round(time.Microsecond).String() },
	"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>synack_exporter</title>
<style>
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
.failed { color: #a00; }
</style>
</head>
<body>
<h1>synack_exporter</h1>
<p>Checks TCP ports with a half-open handshake: SYN out, SYN-ACK back, RST out.</p>
<p>Version {{.Version}} (revision {{.Revision}}); config from {{.ConfigSource}}.</p>
<ul>
<li><a href="metrics">Metrics</a></li>
<li><a href="config">Configuration</a></li>
<li><a href="-/healthy">Health</a></li>
</ul>
<form action="probe">
<input type="hidden" name="debug" value="true">
<label>Target <input type="text" name="target" placeholder="host:port"></label>
<label>Module <input type="text" name="module" value="{{.DefaultModule}}"></label>
<input type="submit" value="Probe with debug output">
</form>
<h2>Recent probes</h2>
<p>The last {{.Limit}} successes and, kept separately, the last {{.Limit}} failures; newest first.</p>
<table>
<tr><th>Time (UTC)</th><th>Module</th><th>Target</th><th>Result</th><th>SYN-ACK</th><th>Duration</th><th>Debug</th></tr>
{{range .Probes}}<tr{{if not .Succeeded}} class="failed"{{end}}>
<td>{{utc .Start}}</td><td>{{.Module}}</td><td>{{.Target}}</td>
<td>{{.Result.Class}}{{with .Result.Err}}: {{.}}{{end}}</td>
<td>{{if .Result.Success}}{{duration .Result.SYNACK}}{{end}}</td>
<td>{{duration .Duration}}</td>
<td><a href="logs?id={{.ID}}">logs</a></td>
</tr>
{{end}}</table>
{{.Extra}}
</body>
</html>
`))

// landingPage is what landingTemplate shows.
type landingPage struct {
	Version, Revision string
	ConfigSource      string
	DefaultModule     string
	Limit             int
	Probes            []*probeRecord
	Extra             template.HTML // Options.LandingSection's
}

func (e *Exporter) serveLanding(w http.ResponseWriter, _ *http.Request) {
	page := landingPage{
		Version:       version.Version,
		Revision:      version.GetRevision(),
		ConfigSource:  e.opts.Config.Source(),
		DefaultModule: config.DefaultModule,
		Limit:         e.opts.HistoryLimit,
		Probes:        e.history.recent(),
	}
	if e.opts.LandingSection != nil {
		page.Extra = e.opts.LandingSection()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := landingTemplate.Execute(w, page); err != nil {
		level.Error(e.logger).Log("msg", "Error rendering the landing page", "err", err)
	}
}
