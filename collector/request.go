package collector

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// scrapeTimeoutHeader is how Prometheus tells a target its scrape timeout.
const scrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// defaultScrapeTimeout stands in for the scrape timeout when the request
// has no header (a person with curl): still capped by the module.
const defaultScrapeTimeout = 120 * time.Second

// maxScrapeTimeout bounds the header so that converting it to a Duration
// cannot overflow; no scrape waits a day.
const maxScrapeTimeout = 24 * time.Hour

// probeRequest is a validated /probe query.
type probeRequest struct {
	Target string
	Module string
	Debug  bool
	// ScrapeTimeout is the header's value, or defaultScrapeTimeout.
	ScrapeTimeout time.Duration
}

// parseProbeRequest validates the query and the scrape timeout header.
// Its errors are the one-line reasons a client gets with HTTP 400.
func parseProbeRequest(query url.Values, header http.Header) (probeRequest, error) {
	var req probeRequest
	var err error
	if req.Target, err = singleParam(query, "target"); err != nil {
		return req, err
	}
	if req.Target == "" {
		return req, errors.New("target parameter is missing")
	}
	if _, _, err := prober.ParseTarget(req.Target); err != nil {
		return req, err
	}
	if req.Module, err = singleParam(query, "module"); err != nil {
		return req, err
	}
	if req.Module == "" {
		req.Module = config.DefaultModule
	}
	debug, err := singleParam(query, "debug")
	if err != nil {
		return req, err
	}
	if req.Debug, err = parseDebug(debug); err != nil {
		return req, err
	}
	req.ScrapeTimeout, err = parseScrapeTimeout(header.Values(scrapeTimeoutHeader))
	return req, err
}

func singleParam(query url.Values, name string) (string, error) {
	switch v := query[name]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", fmt.Errorf("%s parameter is given more than once", name)
}

func parseDebug(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("debug parameter %q is not true or false", s)
}

// parseScrapeTimeout reads the header Prometheus sends. A value that is not
// a positive number of seconds is the client's mistake and is rejected
// rather than guessed at; a huge one is clamped to maxScrapeTimeout (the
// module's timeout caps it further).
func parseScrapeTimeout(values []string) (time.Duration, error) {
	switch len(values) {
	case 0:
		return defaultScrapeTimeout, nil
	case 1:
	default:
		return 0, fmt.Errorf("%s header is given more than once", scrapeTimeoutHeader)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(values[0]), 64)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || math.IsNaN(secs) || secs <= 0 {
		return 0, fmt.Errorf("%s header %s is not a positive number of seconds", scrapeTimeoutHeader, quote.Short(values[0]))
	}
	if secs >= maxScrapeTimeout.Seconds() {
		return maxScrapeTimeout, nil
	}
	// A value below a nanosecond is still a positive budget.
	return max(time.Duration(secs*float64(time.Second)), time.Nanosecond), nil
}

// probeTimeout is the budget of one probe: the scrape timeout minus offset
// (the exporter's own time to answer), capped by the module's timeout when
// it has one. When the offset would eat the whole scrape timeout, the
// scrape timeout itself is used: a short budget beats none.
func probeTimeout(scrape, offset, module time.Duration) time.Duration {
	budget := scrape
	if offset > 0 && scrape > offset {
		budget = scrape - offset
	}
	if module > 0 && module < budget {
		budget = module
	}
	return budget
}
