package main

// Prometheus's own view of a large /metrics: its scrape_duration_seconds
// for the exporter at the largest size, native histograms on (so it
// negotiates protobuf, as a fleet reading native histograms does).

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

// prometheusScrapeDuration runs prometheus in the namespace scraping
// target every 5s and returns the median of its first
// prometheusScrapes scrape_duration_seconds.
func (env *continuousEnv) prometheusScrapeDuration(prometheus, dir, target string) (time.Duration, error) {
	const listen = "127.0.0.1:9090"
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(
		"global: {scrape_interval: 5s, scrape_timeout: 5s}\nscrape_configs:\n  - job_name: synack\n    static_configs: [{targets: [%q]}]\n", target)), 0o644); err != nil {
		return 0, err
	}
	data, err := os.MkdirTemp(dir, "prometheus-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(data)
	p, err := startIn(env.ns, "prometheus", prometheus, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+listen, "--enable-feature=native-histograms", "--log.level=warn")
	if err != nil {
		return 0, err
	}
	defer p.stop(10 * time.Second)
	query := "http://" + listen + "/api/v1/query?" + url.Values{
		"query": {fmt.Sprintf("quantile_over_time(0.5, scrape_duration_seconds[5m]) and count_over_time(scrape_duration_seconds[5m]) >= %d", prometheusScrapes)},
	}.Encode()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		if err := p.alive(); err != nil {
			return 0, err
		}
		if v, ok := env.promValue(query); ok {
			return seconds(v), nil
		}
	}
	return 0, fmt.Errorf("prometheus: no %d scrapes of %s within a minute\n%s", prometheusScrapes, target, p.stderr)
}

// promValue is the value of the first series of an instant query.
func (env *continuousEnv) promValue(query string) (float64, bool) {
	resp, err := env.client.Get(query)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) == 0 {
		return 0, false
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
