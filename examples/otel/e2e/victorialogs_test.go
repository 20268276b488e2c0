package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// victoriaLogsTool is the VictoriaLogs single-node binary, pinned by
// internal/vlogstool. It is built without cgo: its zstd is then the pure Go
// one, and no C toolchain is needed.
var victoriaLogsTool = tool{
	name:     "victoria-logs",
	env:      "MPTCPX_VICTORIALOGS",
	dir:      "../internal/vlogstool",
	module:   "github.com/VictoriaMetrics/VictoriaLogs",
	pkg:      "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs",
	buildEnv: []string{"CGO_ENABLED=0"},
}

// victoriaLogs is a running VictoriaLogs.
type victoriaLogs struct {
	*proc
	url string // base URL of its HTTP API
}

// otlpLogs is the URL of the OTLP/HTTP logs receiver, for
// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (a signal's endpoint is used as it is).
func (v *victoriaLogs) otlpLogs() string { return v.url + "/insert/opentelemetry/v1/logs" }

// startVictoriaLogs runs the binary at path on 127.0.0.1 with its storage
// in a temporary directory, and waits until it answers. Data is searchable
// about a second after it arrives (its in-memory buffers are flushed every
// second), which is why the checks poll.
func startVictoriaLogs(ctx context.Context, t *testing.T, path string) *victoriaLogs {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	v := &victoriaLogs{
		proc: start(t, "victoria-logs", path, nil,
			"-httpListenAddr="+addr,
			"-storageDataPath="+t.TempDir(),
			"-loggerLevel=WARN",
		),
		url: "http://" + addr,
	}
	if err := poll(ctx, func() error { return httpOK(ctx, v.url+"/health", true) }); err != nil {
		t.Fatalf("victoria-logs: %v", err)
	}
	return v
}

// vlRecord is a log record as VictoriaLogs returns it: every field, with
// its value as a string. An OTLP record's attributes and its resource's
// are fields named by their keys; its trace and span ids are trace_id and
// span_id (hex), its event name event_name, its severity severity_number
// and severity_text.
type vlRecord map[string]string

// query runs the LogsQL query q (/select/logsql/query) and returns the
// records it selects.
func (v *victoriaLogs) query(ctx context.Context, q string) ([]vlRecord, error) {
	u := v.url + "/select/logsql/query?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := backendClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("victoria-logs: query %s: %s", q, resp.Status)
	}
	// One JSON object per line.
	var out []vlRecord
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r vlRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("victoria-logs: query %s: %q: %v", q, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// count runs the LogsQL query q with `| stats count() n` appended and
// returns n.
func (v *victoriaLogs) count(ctx context.Context, q string) (int, error) {
	rs, err := v.query(ctx, q+" | stats count() n")
	if err != nil {
		return 0, err
	}
	if len(rs) != 1 {
		return 0, fmt.Errorf("victoria-logs: query %s: %d results, want one count", q, len(rs))
	}
	return strconv.Atoi(rs[0]["n"])
}
