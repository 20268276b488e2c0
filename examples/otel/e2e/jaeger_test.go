package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// jaegerTool is the Jaeger all-in-one binary, pinned by
// internal/jaegertool.
var jaegerTool = tool{
	name:   "jaeger",
	env:    "MPTCPX_JAEGER",
	dir:    "../internal/jaegertool",
	module: "github.com/jaegertracing/jaeger",
	pkg:    "github.com/jaegertracing/jaeger/cmd/jaeger",
}

// jaegerConfig is an all-in-one configuration with in-memory storage, an
// OTLP/HTTP receiver and the query service, every endpoint on 127.0.0.1,
// and no receiver or extension the test does not use (the default
// configuration also opens Jaeger, Zipkin and sampling ports). The
// collector's own metrics are off: they would open one more port. So is
// the query service's tracing of itself, which would export to the OTLP
// default, localhost:4317.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// jaeger is a running Jaeger.
type jaeger struct {
	*proc
	otlp  string // OTLP/HTTP base URL
	query string // query service base URL
}

// startJaeger runs the binary at path and waits until its query API
// answers.
func startJaeger(ctx context.Context, t *testing.T, path string) *jaeger {
	t.Helper()
	queryPort, grpcPort, otlpPort := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, queryPort, grpcPort, otlpPort), 0o644); err != nil {
		t.Fatal(err)
	}
	j := &jaeger{
		proc:  start(t, "jaeger", path, nil, "--config", cfg),
		otlp:  fmt.Sprintf("http://127.0.0.1:%d", otlpPort),
		query: fmt.Sprintf("http://127.0.0.1:%d", queryPort),
	}
	err := poll(ctx, func() error {
		var r struct{ Data []string }
		return getJSON(ctx, j.query+"/api/services", &r)
	})
	if err != nil {
		t.Fatalf("jaeger query API: %v", err)
	}
	// The OTLP receiver starts before the query extension answers, but
	// check it anyway: a span export that fails is only logged.
	if err := poll(ctx, func() error { return httpOK(ctx, j.otlp+"/v1/traces", false) }); err != nil {
		t.Fatalf("jaeger OTLP receiver: %v", err)
	}
	return j
}

// jaegerSpan is a span as Jaeger's query API returns it (the UI's format:
// span events are "logs", attributes are "tags").
type jaegerSpan struct {
	TraceID       string
	SpanID        string
	OperationName string
	References    []struct{ RefType, TraceID, SpanID string }
	Tags          []jaegerKV
	Logs          []struct{ Fields []jaegerKV }
	ProcessID     string
}

type jaegerKV struct {
	Key   string
	Type  string
	Value any
}

type jaegerTrace struct {
	TraceID   string
	Spans     []jaegerSpan
	Processes map[string]struct{ ServiceName string }
}

// traces returns the traces Jaeger holds for service.
func (j *jaeger) traces(ctx context.Context, service string) ([]jaegerTrace, error) {
	q := url.Values{"service": {service}, "limit": {"1000"}, "lookback": {"1h"}}
	var r struct {
		Data   []jaegerTrace
		Errors []any
	}
	if err := getJSON(ctx, j.query+"/api/traces?"+q.Encode(), &r); err != nil {
		return nil, err
	}
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("jaeger: %v", r.Errors)
	}
	return r.Data, nil
}

// tag returns the value of the tag key among kvs.
func tag(kvs []jaegerKV, key string) (any, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// events returns the span's events (Jaeger logs) named name.
func (s *jaegerSpan) events(name string) [][]jaegerKV {
	var out [][]jaegerKV
	for _, l := range s.Logs {
		if v, _ := tag(l.Fields, "event"); v == name {
			out = append(out, l.Fields)
		}
	}
	return out
}

// getJSON GETs u and decodes its JSON body into v. Only 200 is success.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := backendClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// httpOK GETs u and wants an answer: with want200, one with status 200.
func httpOK(ctx context.Context, u string, want200 bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := backendClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if want200 && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// backendClient talks to the backends on loopback: no proxy, ever.
var backendClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   10 * time.Second,
}

// eventually calls f with a context that ends after d, until f succeeds
// or the context ends.
func eventually(d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return poll(ctx, func() error { return f(ctx) })
}

// poll calls f every 200ms until it returns nil or ctx ends, and then
// returns f's last error: the last one before ctx ended, when there is
// one, since a call that ctx's end cut short fails with nothing but that.
func poll(ctx context.Context, f func() error) error {
	var last error
	for {
		err := f()
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
