package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jaegerToolDir is the module that pins the Jaeger version.
const jaegerToolDir = "../internal/jaegertool"

// jaegerBinary returns the path of a Jaeger all-in-one binary: MPTCPX_JAEGER
// if set, else a build of the pinned version, cached in the user's cache
// directory under a name that holds the version and a digest of the pinning
// go.mod and go.sum, so that a version change builds anew.
func jaegerBinary() (path string, built bool, err error) {
	if p := os.Getenv("MPTCPX_JAEGER"); p != "" {
		return p, false, nil
	}
	version, digest, err := jaegerVersion()
	if err != nil {
		return "", false, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(cache, "mptcpx", "jaeger-"+version+"-"+digest)
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", false, err
	}
	// Build next to the final name and rename, so that an interrupted
	// build never leaves a broken binary under the cached name.
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := goBuild(jaegerToolDir, "-trimpath", "-o", tmp, "github.com/jaegertracing/jaeger/cmd/jaeger"); err != nil {
		return "", false, err
	}
	return path, true, os.Rename(tmp, path)
}

// jaegerVersion reads the pinned Jaeger version from the tool module's
// go.mod, and a digest of its go.mod and go.sum.
func jaegerVersion() (version, digest string, err error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(jaegerToolDir, name))
		if err != nil {
			return "", "", err
		}
		h.Write(b)
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if name == "go.mod" && len(f) >= 2 && f[0] == "github.com/jaegertracing/jaeger" {
				version = f[1]
			}
		}
	}
	if version == "" {
		return "", "", fmt.Errorf("%s/go.mod requires no github.com/jaegertracing/jaeger", jaegerToolDir)
	}
	return version, hex.EncodeToString(h.Sum(nil))[:12], nil
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
