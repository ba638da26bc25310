package collector

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

func (e *Exporter) routes() *http.ServeMux {
	page := newLanding(e)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) { e.serveProbe(w, r, page) })
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(e.registry,
		promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})))
	mux.HandleFunc("GET /config", e.serveConfig)
	mux.HandleFunc("GET /-/healthy", serveHealthy)
	mux.HandleFunc("POST /-/reload", e.serveReload)
	mux.HandleFunc("GET /logs", e.serveLogs)
	mux.Handle("GET /{$}", page)
	return mux
}

// serveProbe runs one check and answers with its metrics. A request that
// cannot be probed is a 400 with a one-line reason, a target the module
// refuses a 403; a target that does not answer is a 200 with
// probe_success 0. The landing page takes the probe into its targets'
// states.
func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request, page *landing) {
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		e.badRequest(w, err)
		return
	}
	req, err := parseProbeRequest(query, r.Header)
	if err != nil {
		e.badRequest(w, err)
		return
	}
	module, ok := e.opts.Config.Current().Module(req.Module)
	if !ok {
		e.metrics.moduleUnknown.Inc()
		e.badRequest(w, fmt.Errorf("unknown module %s", quote.Short(req.Module)))
		return
	}
	timeout := probeTimeout(req.ScrapeTimeout, e.opts.TimeoutOffset, time.Duration(module.Timeout))
	rec, err := e.probe(r.Context(), req, module, timeout)
	if err == nil {
		page.observe(rec)
	}
	e.answer(w, req, rec, err)
}

// answer writes a finished probe's answer: its metrics, its debug output
// if asked, or the refusal of a denied target.
func (e *Exporter) answer(w http.ResponseWriter, req probeRequest, rec *probeRecord, err error) {
	if err != nil {
		e.refuse(w, req, err)
		return
	}
	if req.Debug {
		e.serveDebug(w, rec)
		return
	}
	e.serveMetrics(w, rec)
}

// metricsBuffers recycles the buffers answers are written into; an answer
// is about 2.5 kB.
var metricsBuffers = sync.Pool{New: func() any { return new([]byte) }}

// metricsContentTypeValue is the Content-Type header of every answer,
// one slice shared by all: net/http only reads a header's values, and
// Header.Set would allocate a new slice per answer.
var metricsContentTypeValue = []string{metricsContentType}

// serveMetrics answers with the probe's gauges in the text format, with
// its length and without compression: gzip would cost more CPU than the
// check for a 2.5 kB answer, and a client that asks for another format
// still accepts this one (Prometheus always lists it).
func (e *Exporter) serveMetrics(w http.ResponseWriter, rec *probeRecord) {
	buf := metricsBuffers.Get().(*[]byte)
	*buf = rec.appendMetrics((*buf)[:0])
	h := w.Header()
	h["Content-Type"] = metricsContentTypeValue
	h.Set("Content-Length", strconv.Itoa(len(*buf)))
	if _, err := w.Write(*buf); err != nil {
		level.Debug(e.logger).Log("msg", "Error writing probe metrics", "id", rec.ID, "err", err)
	}
	metricsBuffers.Put(buf)
}

func (e *Exporter) badRequest(w http.ResponseWriter, err error) {
	level.Debug(e.logger).Log("msg", "Rejected probe request", "err", err)
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// serveLogs shows the debug output of a probe still in the history.
func (e *Exporter) serveLogs(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		http.Error(w, "id parameter is not a probe number", http.StatusBadRequest)
		return
	}
	rec, ok := e.history.get(id)
	if !ok {
		http.Error(w, fmt.Sprintf("probe %d is no longer in the history", id), http.StatusNotFound)
		return
	}
	e.serveDebug(w, rec)
}

func (e *Exporter) serveDebug(w http.ResponseWriter, rec *probeRecord) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := rec.writeDebug(w); err != nil {
		level.Error(e.logger).Log("msg", "Error writing debug output", "id", rec.ID, "err", err)
	}
}

// writeDebug writes what ?debug=true shows: the probe's log lines, the
// metrics it answered with and its module's configuration.
func (rec *probeRecord) writeDebug(w io.Writer) error {
	io.WriteString(w, "Logs for the probe:\n")
	rec.writeLog(w)
	io.WriteString(w, "\n")
	fmt.Fprintf(w, "Metrics that would have been returned:\n")
	if _, err := w.Write(rec.appendMetrics(nil)); err != nil {
		return err
	}
	module := &config.Config{Modules: map[string]config.Module{rec.Module: rec.Config}}
	yaml, err := module.YAML()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\nModule configuration:\n%s", yaml)
	return err
}

func (e *Exporter) serveConfig(w http.ResponseWriter, _ *http.Request) {
	yaml, err := e.opts.Config.Current().YAML()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(yaml)
}

func serveHealthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Healthy\n")
}

// serveReload reloads the configuration. The method is POST so that a
// crawler or a prefetching browser cannot trigger it; the mux answers 405
// to other methods.
func (e *Exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if err := e.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Config reloaded\n")
}

// sameOrigin refuses a request that a browser sent on behalf of another
// site: a page anywhere could otherwise make a visitor's browser POST a
// form to /-/reload on a loopback or internal exporter. Browsers say
// where a request comes from (Sec-Fetch-Site, or Origin on a POST);
// curl, promtool and Prometheus send neither, and are let through.
func sameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %.20q)", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("cross-site request refused (Origin %.60q is not %.60q)", origin, r.Host)
	}
	return nil
}
