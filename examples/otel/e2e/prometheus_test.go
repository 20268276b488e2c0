package e2e

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// prometheusBinary returns MPTCPX_PROMETHEUS if set, else the prometheus in
// PATH (the Debian package installs /usr/bin/prometheus).
func prometheusBinary() (string, error) {
	if p := os.Getenv("MPTCPX_PROMETHEUS"); p != "" {
		return p, nil
	}
	return exec.LookPath("prometheus")
}

// prometheusConfig scrapes each job's one target every second, so that a
// test of a few seconds has several samples of every series.
const prometheusConfig = `
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: httpserver
    static_configs:
      - targets: ["%s"]
  - job_name: httpclient
    static_configs:
      - targets: ["%s"]
`

// prometheus is a running Prometheus server.
type prometheus struct {
	*proc
	api string // base URL
}

// startPrometheus runs the binary at path, scraping the server's and the
// client's metrics endpoints (host:port), with its storage in a temporary
// directory and its web API on 127.0.0.1, and waits until it is ready. It
// runs in the foreground as the test's child, never as a system service.
func startPrometheus(ctx context.Context, t *testing.T, path, server, client string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, prometheusConfig, server, client), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &prometheus{
		proc: start(t, "prometheus", path, nil,
			"--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr,
			"--log.level=warn"),
		api: "http://" + addr,
	}
	if err := poll(ctx, func() error { return httpOK(ctx, p.api+"/-/ready", true) }); err != nil {
		t.Fatalf("prometheus not ready: %v", err)
	}
	return p
}

// sample is one series of an instant query's result.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query runs the PromQL expression expr as an instant query at the
// current time.
func (p *prometheus) query(ctx context.Context, expr string) ([]sample, error) {
	var r struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := getJSON(ctx, p.api+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, r.Data.ResultType)
	}
	out := make([]sample, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %v", expr, s.Value[1], err)
		}
		out = append(out, sample{s.Metric, v})
	}
	return out, nil
}

// value runs expr, which must select exactly one series, and returns its
// value.
func (p *prometheus) value(ctx context.Context, expr string) (float64, error) {
	s, err := p.query(ctx, expr)
	if err != nil {
		return 0, err
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%s: %d series, want 1: %v", expr, len(s), s)
	}
	if math.IsNaN(s[0].Value) {
		return 0, fmt.Errorf("%s: NaN", expr)
	}
	return s[0].Value, nil
}
