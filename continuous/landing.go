package continuous

import (
	"bytes"
	"cmp"
	"html/template"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// maxLandingTargets bounds the targets the landing page draws, worst
// loss first: a page of 10,000 plots would help nobody.
const maxLandingTargets = 200

// Size of a target's plot, in pixels.
const (
	plotWidth  = 300
	plotHeight = 40
)

// landingTemplate is the landing page's section for continuous mode.
// Each target gets a plot of its recent samples, oldest on the left: a
// dot per open check, its height the SYN-ACK time (the top is the
// slowest in view), and a red bar for each check that missed.
var landingTemplate = template.Must(template.New("continuous").Parse(`<h2 id="continuous">Continuous checks</h2>
<p>{{.Total}} targets checked continuously{{if lt .Shown .Total}}; the {{.Shown}} with the highest loss are shown{{end}}. Counts cover the last 5 minutes' worth of checks (one per address and interval); a plot shows the recent checks, oldest on the left: a dot per SYN-ACK (higher is slower, up to {{.ScaleNote}}), a red bar per check that missed.</p>
<table class="continuous">
<tr><th>Module</th><th>Target</th><th>Labels</th><th>Last</th><th>Checks</th><th>Loss</th><th>Median SYN-ACK</th><th>Recent</th></tr>
{{range .Rows}}<tr{{if .Missed}} class="failed"{{end}}>
<td>{{.Module}}</td><td>{{.Target}}</td><td>{{.Labels}}</td><td>{{.Last}}</td><td>{{.Checks}}</td><td>{{printf "%.1f" .LossPercent}}%</td><td>{{.Median}}</td>
<td><svg class="recent" width="{{$.Width}}" height="{{$.Height}}" viewBox="0 0 {{$.Width}} {{$.Height}}" role="img" aria-label="recent checks of {{.Target}}"><rect width="{{$.Width}}" height="{{$.Height}}" fill="#f6f6f6"/>{{range .Misses}}<line class="miss" x1="{{printf "%.1f" .}}" x2="{{printf "%.1f" .}}" y1="0" y2="{{$.Height}}" stroke="#c00"/>{{end}}{{range .Points}}<circle class="synack" cx="{{printf "%.1f" .X}}" cy="{{printf "%.1f" .Y}}" r="1.5" fill="#06c"/>{{end}}</svg></td>
</tr>
{{end}}</table>
`))

type landingSection struct {
	Total, Shown  int
	Width, Height int
	ScaleNote     string
	Rows          []landingRow
}

type landingRow struct {
	Module, Target, Labels string
	Last                   string
	Missed                 bool // the last check missed
	Checks                 int
	LossPercent            float64
	Median                 string
	Points                 []point
	Misses                 []float64
}

type point struct{ X, Y float64 }

// targetView is a copy of what the landing page needs of a target, taken
// under the lock.
type targetView struct {
	module, target, labels string
	expect                 prober.Expect
	last                   prober.Class
	checked                bool
	samples                []sample
}

// Landing renders the landing page's section: every target (up to
// maxLandingTargets, worst loss first) with its last class, checks and
// loss over the last 5 minutes, median SYN-ACK time and a plot of its
// recent checks. It is empty without targets, and safe on a nil Runner.
func (r *Runner) Landing() template.HTML {
	if r == nil {
		return ""
	}
	views := r.views()
	if len(views) == 0 {
		return ""
	}
	rows := make([]landingRow, len(views))
	for i, v := range views {
		rows[i] = v.row()
	}
	slices.SortStableFunc(rows, func(a, b landingRow) int { return cmp.Compare(b.LossPercent, a.LossPercent) })
	page := landingSection{Total: len(rows), Width: plotWidth, Height: plotHeight, ScaleNote: "the slowest in view"}
	page.Rows = rows[:min(len(rows), maxLandingTargets)]
	page.Shown = len(page.Rows)
	var b bytes.Buffer
	if err := landingTemplate.Execute(&b, page); err != nil {
		return template.HTML(template.HTMLEscapeString("continuous section: " + err.Error()))
	}
	return template.HTML(b.String()) // html/template escaped every value
}

// views copies every target's state, sorted by module and target. The
// samples are copied under each target's own lock, not Runner.mu, so
// that the page holds the scheduler up only while it lists targets.
func (r *Runner) views() []targetView {
	r.mu.Lock()
	out := make([]targetView, 0, len(r.targets))
	targets := make([]*target, 0, len(r.targets))
	for _, t := range r.targets {
		targets = append(targets, t)
		out = append(out, targetView{
			module: t.key.module, target: t.name, labels: formatLabels(t.labels),
			expect: t.settings.plan.Expect,
		})
	}
	r.mu.Unlock()
	for i, t := range targets {
		t.mu.Lock()
		out[i].last, out[i].checked, out[i].samples = t.last, t.checked, t.ring.samples()
		t.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b targetView) int {
		return cmp.Or(cmp.Compare(a.module, b.module), cmp.Compare(a.target, b.target), cmp.Compare(a.labels, b.labels))
	})
	return out
}

// row sums up a target's samples and draws them.
func (v targetView) row() landingRow {
	row := landingRow{Module: v.module, Target: v.target, Labels: v.labels, Last: "-", Median: "-"}
	if v.checked {
		row.Last = v.last.String()
		row.Missed = !v.expect.Met(v.last)
	}
	var times []time.Duration
	missed := 0
	for _, s := range v.samples {
		row.Checks++
		if !v.expect.Met(s.class()) {
			missed++
		}
		if s.class() == prober.ClassOpen {
			times = append(times, s.synack())
		}
	}
	if row.Checks > 0 {
		row.LossPercent = 100 * float64(missed) / float64(row.Checks)
	}
	if len(times) > 0 {
		slices.Sort(times)
		row.Median = times[len(times)/2].Round(time.Microsecond).String()
	}
	row.Points, row.Misses = plot(v.samples, v.expect)
	return row
}

// plot places each sample on the plot: open ones as points, their
// height scaled to the slowest; misses as bars.
func plot(samples []sample, expect prober.Expect) (points []point, misses []float64) {
	var slowest time.Duration
	for _, s := range samples {
		if s.class() == prober.ClassOpen {
			slowest = max(slowest, s.synack())
		}
	}
	step := float64(plotWidth) / float64(max(len(samples), 1))
	for i, s := range samples {
		x := (float64(i) + 0.5) * step
		if !expect.Met(s.class()) {
			misses = append(misses, x)
		}
		if s.class() == prober.ClassOpen {
			y := float64(plotHeight) - 2
			if slowest > 0 {
				y -= float64(s.synack()) / float64(slowest) * (plotHeight - 4)
			}
			points = append(points, point{X: x, Y: y})
		}
	}
	return points, misses
}

func formatLabels(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, " ")
}
