package main

// Prometheus's own view of a large /metrics: its scrape_duration_seconds
// for the exporter at the largest size, native histograms on (so it
// negotiates protobuf, as a fleet reading native histograms does). The
// start and the queries serve the continuous-accuracy scenario too.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// prometheusScrapes is how many scrapes the median is taken over.
const prometheusScrapes = 3

// startPrometheus runs prometheus in the namespace, listening on listen
// and scraping target every interval as job "synack", with native
// histograms on or off; stop ends it and removes its data.
func (env *continuousEnv) startPrometheus(prometheus, dir, name, listen, target string, interval time.Duration, native bool) (p *proc, stop func(), err error) {
	cfg := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(
		"global: {scrape_interval: %[1]v, scrape_timeout: %[1]v}\nscrape_configs:\n  - job_name: synack\n    static_configs: [{targets: [%[2]q]}]\n",
		interval, target)), 0o644); err != nil {
		return nil, nil, err
	}
	data, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, nil, err
	}
	args := []string{prometheus, "--config.file=" + cfg, "--storage.tsdb.path=" + data,
		"--web.listen-address=" + listen, "--log.level=warn"}
	if native {
		args = append(args, "--enable-feature=native-histograms")
	}
	if p, err = startIn(env.ns, name, args...); err != nil {
		os.RemoveAll(data)
		return nil, nil, err
	}
	return p, func() {
		p.stop(10 * time.Second)
		os.RemoveAll(data)
	}, nil
}

// prometheusScrapeDuration runs prometheus in the namespace scraping
// target every 5s and returns the median of its first
// prometheusScrapes scrape_duration_seconds.
func (env *continuousEnv) prometheusScrapeDuration(prometheus, dir, target string) (time.Duration, error) {
	const listen = "127.0.0.1:9090"
	p, stop, err := env.startPrometheus(prometheus, dir, "prometheus", listen, target, 5*time.Second, true)
	if err != nil {
		return 0, err
	}
	defer stop()
	query := fmt.Sprintf("quantile_over_time(0.5, scrape_duration_seconds[5m]) and count_over_time(scrape_duration_seconds[5m]) >= %d", prometheusScrapes)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		if err := p.alive(); err != nil {
			return 0, err
		}
		if v, ok := env.promValue(listen, query); ok {
			return seconds(v), nil
		}
	}
	return 0, fmt.Errorf("prometheus: no %d scrapes of %s within a minute\n%s", prometheusScrapes, target, p.stderr)
}

// promValue is the value of the first series of an instant query now.
func (env *continuousEnv) promValue(listen, query string) (float64, bool) {
	series, err := env.promQuery(listen, query, time.Time{})
	if err != nil || len(series) == 0 || len(series[0].values) == 0 {
		return 0, false
	}
	return series[0].values[0].v, true
}

// promSeries is one series of a query's answer: an instant vector's
// has one value, a range vector's (a matrix) every sample in the range.
type promSeries struct {
	labels map[string]string
	values []promPoint
}

// promPoint is one sample: Prometheus's timestamp and its value.
type promPoint struct {
	at time.Time
	v  float64
}

// promQuery runs an instant query through the HTTP API at time at (the
// zero time: now). A NaN value comes back as NaN.
func (env *continuousEnv) promQuery(listen, query string, at time.Time) ([]promSeries, error) {
	params := url.Values{"query": {query}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	resp, err := env.client.Get("http://" + listen + "/api/v1/query?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
		Data  struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", query, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, body.Error)
	}
	var out []promSeries
	for _, r := range body.Data.Result {
		s := promSeries{labels: r.Metric}
		samples := r.Values
		if r.Value != nil {
			samples = append(samples, r.Value)
		}
		for _, pair := range samples {
			p, err := promPointOf(pair)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", query, err)
			}
			s.values = append(s.values, p)
		}
		out = append(out, s)
	}
	return out, nil
}

// promPointOf reads the API's [seconds, "value"] pair.
func promPointOf(pair []any) (promPoint, error) {
	if len(pair) != 2 {
		return promPoint{}, fmt.Errorf("sample %v is not a pair", pair)
	}
	ts, ok1 := pair[0].(float64)
	s, ok2 := pair[1].(string)
	if !ok1 || !ok2 {
		return promPoint{}, fmt.Errorf("sample %v is not [seconds, \"value\"]", pair)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return promPoint{}, fmt.Errorf("sample %v: %w", pair, err)
	}
	return promPoint{at: time.Unix(0, int64(ts*1e9)), v: v}, nil
}
