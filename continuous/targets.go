package continuous

import (
	"context"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	dto "github.com/prometheus/client_model/go"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// targetKey identifies a target across reloads: one that keeps its
// module, its host:port and its labels keeps its series and counters.
type targetKey struct {
	module, target, labels string
}

// spec is a target as the configuration (or a file) gives it.
type spec struct {
	key      targetKey
	labels   map[string]string // the group's labels, a file's on top
	settings *settings
}

// settings are how a group's targets are checked, shared by them; Apply
// replaces them whole, so a check started with one set keeps it.
type settings struct {
	module   config.Module
	opts     prober.Options
	plan     prober.Plan
	interval time.Duration
	budget   time.Duration
}

func newSettings(m config.Module, g config.ContinuousGroup) *settings {
	return &settings{
		module:   m,
		opts:     m.ProbeOptions(),
		plan:     m.Plan(),
		interval: time.Duration(g.Interval),
		budget:   g.BudgetFor(m),
	}
}

// sameChecks reports whether two settings make the same checks of the
// same addresses, so that the addresses need not be resolved again.
func (s *settings) sameChecks(o *settings) bool {
	return reflect.DeepEqual(s.module, o.module)
}

// target is one configured host:port and what the Runner knows of it.
// Its fields are guarded by Runner.mu, except those under its own mu,
// which a check's end needs: so that the prober's loop, which ends
// checks, never waits for Runner.mu while the scheduler or a reload
// holds it.
type target struct {
	key      targetKey
	name     string // host:port as written
	literal  bool   // an IP address: resolved once, without DNS
	labels   map[string]string
	base     []*dto.LabelPair // module, target and the labels
	hash     uint64           // Hash(module, target)
	settings *settings
	phase    time.Duration // Phase(hash, settings.interval)

	// slot is the instant the next check belongs to.
	slot      time.Time
	heapIndex int

	// Resolution.
	resolving  bool
	resolved   bool // at least once since the settings changed
	resolvedAt time.Time
	failed     bool         // the last resolution left no address
	failClass  prober.Class // resolve, or prohibited for a policy's refusal
	addrs      []*address   // the addresses, current and recently gone
	none       *series      // checks that reached no address

	// mu guards ring, last, checked and removed, and the addresses'
	// inFlight, owed and owedSlot. It is taken after Runner.mu.
	mu      sync.Mutex
	ring    ring
	last    prober.Class
	checked bool // last is set
	removed bool // written under Runner.mu as well
}

// address is one address of a target, with its series.
type address struct {
	t    *target
	addr netip.AddrPort
	s    *series
	// gone is when the name stopped resolving to addr; zero while it
	// does.
	gone     time.Time
	inFlight bool
	// owed is set when a slot came while the previous check was in
	// flight; owedSlot is that slot.
	owed     bool
	owedSlot time.Time
	// cancel ends the context of the check in flight; done ends the
	// check. Both are touched only by the one check in flight.
	cancel context.CancelFunc
	done   func(prober.Result)
}

// specs returns the targets of the configuration, shard applied, with
// the targets of files from the cache.
func (r *Runner) specs(cfg *config.Config, files map[int][]config.TargetGroup) []spec {
	var out []spec
	for i, g := range cfg.Continuous {
		s := newSettings(cfg.Modules[g.Module], g)
		add := func(target string, labels map[string]string) {
			if !r.opts.Shard.Keeps(Hash(g.Module, target)) {
				return
			}
			out = append(out, spec{
				key:      targetKey{module: g.Module, target: target, labels: labelKey(labels)},
				labels:   labels,
				settings: s,
			})
		}
		for _, target := range g.Targets {
			add(target, g.Labels)
		}
		for _, tg := range files[i] {
			labels := maps.Clone(g.Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			maps.Copy(labels, tg.Labels)
			for _, target := range tg.Targets {
				add(target, labels)
			}
		}
	}
	return out
}

// labelKey is a canonical form of a label set.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return b.String()
}

// applySpecs makes the targets those of specs: unchanged ones keep their
// state and series, removed ones lose them, new ones start. Under mu.
func (r *Runner) applySpecs(specs []spec, now time.Time) {
	keep := make(map[targetKey]bool, len(specs))
	for _, sp := range specs {
		if keep[sp.key] {
			continue // a file listed a target twice: once is enough
		}
		keep[sp.key] = true
		if t, ok := r.targets[sp.key]; ok {
			r.update(t, sp.settings, now)
			continue
		}
		r.add(sp, now)
	}
	for key, t := range r.targets {
		if !keep[key] {
			r.remove(t)
		}
	}
	r.metrics.targets.Set(float64(len(r.targets)))
	r.warnRate()
}

// warnRate says so when the targets need more checks per second than
// --continuous.max-rate allows: they would all start late, and some
// slots be skipped. Under mu.
func (r *Runner) warnRate() {
	var need float64
	for _, t := range r.targets {
		need += float64(max(len(t.addrs), 1)) / t.settings.interval.Seconds()
	}
	if r.opts.MaxRate > 0 && need > r.opts.MaxRate {
		level.Warn(r.logger).Log("msg", "Continuous targets need more checks per second than --continuous.max-rate allows; checks will start late",
			"need", int(need+0.5), "max_rate", r.opts.MaxRate)
	}
}

func (r *Runner) add(sp spec, now time.Time) {
	host, _, _ := prober.ParseTarget(sp.key.target) // config checked it
	_, err := netip.ParseAddr(host)
	t := &target{
		key:       sp.key,
		name:      sp.key.target,
		literal:   err == nil,
		labels:    sp.labels,
		hash:      Hash(sp.key.module, sp.key.target),
		settings:  sp.settings,
		heapIndex: -1,
		ring:      newRing(sp.settings.interval),
	}
	t.base = []*dto.LabelPair{labelPair("module", sp.key.module), labelPair("target", sp.key.target)}
	for k, v := range sp.labels {
		t.base = append(t.base, labelPair(k, v))
	}
	r.targets[sp.key] = t
	r.reschedule(t, now)
	r.requestResolve(t)
}

// update gives an existing target new settings.
func (r *Runner) update(t *target, s *settings, now time.Time) {
	old := t.settings
	t.settings = s
	if old.interval != s.interval {
		r.reschedule(t, now)
	}
	if !old.sameChecks(s) {
		t.resolved = false
		r.requestResolve(t)
	}
}

func (r *Runner) remove(t *target) {
	t.mu.Lock()
	t.removed = true
	t.mu.Unlock()
	if t.heapIndex >= 0 {
		r.due.remove(t)
	}
	delete(r.targets, t.key)
}

// reschedule puts t in the heap at its next slot.
func (r *Runner) reschedule(t *target, now time.Time) {
	t.phase = Phase(t.hash, t.settings.interval)
	t.slot = nextSlot(now, t.phase, t.settings.interval)
	if t.heapIndex >= 0 {
		r.due.fix(t)
	} else {
		r.due.push(t)
	}
}

// allSeries returns every series, for a scrape.
func (r *Runner) allSeries() []*series {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*series, 0, len(r.targets))
	for _, t := range r.targets {
		for _, a := range t.addrs {
			out = append(out, a.s)
		}
		if t.none != nil {
			out = append(out, t.none)
		}
	}
	return out
}
