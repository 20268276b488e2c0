package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

const (
	responseSize = 256 << 10 // bytes the client asks for per request
	plainSize    = 1000      // bytes the plain-TCP request asks for
	headerSlack  = 1024      // upper bound of one request's or response's HTTP overhead
	rateWindow   = "1m"      // the dashboard's $__rate_interval: 60 scrapes
)

// TestEndToEnd runs the httpserver and httpclient examples with the
// standard OTEL_* variables pointing at a real Jaeger (spans over
// OTLP/HTTP), a real VictoriaLogs (log records over OTLP/HTTP) and a real
// Prometheus (scraping the examples' prometheus exporters), then asks the
// backends' HTTP APIs for what mptcpx must have recorded: connection spans
// with their subflow events, the twin log record of every span event, the
// connection, byte and fallback metrics with values that agree with what
// the client logged, and data for every panel of the Grafana dashboard.
// Then it runs grpcserver and grpcclient against the same Jaeger and
// VictoriaLogs (see testGRPC).
func TestEndToEnd(t *testing.T) {
	if os.Getenv("MPTCPX_E2E") != "1" {
		t.Skip("end-to-end test against Jaeger, VictoriaLogs and Prometheus, opt-in: MPTCPX_E2E=1 (scripts/e2e sets it)")
	}
	testenv.RequireMPTCP(t)
	promPath, err := prometheusBinary()
	if err != nil {
		testenv.Skip(t, "no prometheus (apt-get install prometheus, or set MPTCPX_PROMETHEUS): "+err.Error())
	}
	panels, err := dashboardQueries()
	if err != nil {
		t.Fatal(err)
	}

	// Build Jaeger and VictoriaLogs (once per version: cached) and the
	// examples, together.
	began := time.Now()
	bin := t.TempDir()
	var jaegerPath, vlPath string
	var jaegerBuilt, vlBuilt bool
	var jaegerErr, vlErr, buildErr error
	var wg sync.WaitGroup
	wg.Go(func() { jaegerPath, jaegerBuilt, jaegerErr = jaegerTool.binary() })
	wg.Go(func() { vlPath, vlBuilt, vlErr = victoriaLogsTool.binary() })
	wg.Go(func() {
		buildErr = goBuild("..", "-race", "-o", bin+"/", "./httpserver", "./httpclient", "./grpcserver", "./grpcclient")
	})
	wg.Wait()
	if jaegerErr != nil || vlErr != nil || buildErr != nil {
		t.Fatalf("build: jaeger: %v; victoria-logs: %v; examples: %v", jaegerErr, vlErr, buildErr)
	}
	t.Logf("timing: builds %v (jaeger %s, built now: %v; victoria-logs %s, built now: %v)",
		time.Since(began).Round(time.Millisecond), jaegerPath, jaegerBuilt, vlPath, vlBuilt)

	began = time.Now()
	j := startJaeger(phase(t, time.Minute), t, jaegerPath)
	vl := startVictoriaLogs(phase(t, time.Minute), t, vlPath)
	serverMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	clientMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := startPrometheus(phase(t, time.Minute), t, promPath, serverMetrics, clientMetrics)
	t.Logf("timing: backends up %v", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	otelEnv := func(service, metrics string) []string {
		host, port, _ := net.SplitHostPort(metrics)
		return []string{
			"OTEL_SERVICE_NAME=" + service,
			"OTEL_TRACES_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + j.otlp,
			"OTEL_BSP_SCHEDULE_DELAY=200",
			// Connection events as log records, to VictoriaLogs.
			"OTEL_LOGS_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=" + vl.otlpLogs(),
			"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/protobuf",
			"OTEL_BLRP_SCHEDULE_DELAY=200",
			"OTEL_METRICS_EXPORTER=prometheus",
			"OTEL_EXPORTER_PROMETHEUS_HOST=" + host,
			"OTEL_EXPORTER_PROMETHEUS_PORT=" + port,
		}
	}
	serverAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server := start(t, "httpserver", filepath.Join(bin, "httpserver"), otelEnv("httpserver", serverMetrics), "-addr", serverAddr)
	if _, _, err := server.waitLine(phase(t, time.Minute), 0, "listening on "+serverAddr); err != nil {
		t.Fatal(err)
	}

	// A plain-TCP request, before and after Prometheus has seen the first:
	// the server must see and report two fallbacks, and the dashboard
	// their rate.
	plainRequest(t, serverAddr)

	client := start(t, "httpclient", filepath.Join(bin, "httpclient"), otelEnv("httpclient", clientMetrics),
		"-url", fmt.Sprintf("http://%s/?n=%d", serverAddr, responseSize), "-n", "0", "-every", "250ms")
	line, _, err := client.waitLine(phase(t, time.Minute), 0, "200 OK")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d bytes, Mptcp true", responseSize); !strings.Contains(line, want) {
		t.Fatalf("client's first response: %q, want %q", line, want)
	}

	// While the client runs: one MPTCP connection on each side, on one
	// loopback subflow, bytes flowing, one fallback (the plain request)
	// on the server only.
	running := []check{
		{"client connections open", `mptcp_connection_active{job="httpclient",mptcp_role="client"}`, eq(1)},
		{"server connections open", `mptcp_connection_active{job="httpserver",mptcp_role="server"}`, eq(1)},
		{"client subflows open", `mptcp_subflow_active{job="httpclient",mptcp_role="client"}`, eq(1)},
		{"client fallbacks", `sum(mptcp_connection_fallbacks_total{job="httpclient",mptcp_role="client"})`, eq(0)},
		{"server fallbacks", `mptcp_connection_fallbacks_total{job="httpserver",mptcp_role="server",mptcp_fallback_reason="not_negotiated"}`, eq(1)},
		{"server fallbacks for other reasons", `sum(mptcp_connection_fallbacks_total{job="httpserver",mptcp_role="server",mptcp_fallback_reason!="not_negotiated"})`, eq(0)},
		{"server fallback connections ended", `mptcp_connection_duration_seconds_count{job="httpserver",mptcp_role="server",mptcp_fallback="true"}`, eq(1)},
		{"client bytes received", `mptcp_io_bytes_total{job="httpclient",mptcp_role="client",network_io_direction="receive"}`, atLeast(3 * responseSize)},
		{"client bytes sent", `mptcp_io_bytes_total{job="httpclient",mptcp_role="client",network_io_direction="transmit"}`, atLeast(3 * len("GET /?n=1 HTTP/1.1\r\n\r\n"))},
		{"client bytes received on 127.0.0.1", `mptcp_subflow_io_bytes_total{job="httpclient",mptcp_role="client",network_io_direction="receive",network_local_address="127.0.0.1"}`, atLeast(3 * responseSize)},
		{"server bytes sent on 127.0.0.1", `mptcp_subflow_io_bytes_total{job="httpserver",mptcp_role="server",network_io_direction="transmit",network_local_address="127.0.0.1"}`, atLeast(3 * responseSize)},
		{"client RTT samples on 127.0.0.1", `mptcp_subflow_rtt_seconds_count{job="httpclient",mptcp_role="client",network_local_address="127.0.0.1"}`, atLeast(2)},
	}
	if err := eventually(time.Minute, func(ctx context.Context) error { return prom.check(ctx, running) }); err != nil {
		t.Fatalf("metrics while the client runs: %v", err)
	}
	plainRequest(t, serverAddr)
	fallbacks := []check{
		{"server fallbacks", `mptcp_connection_fallbacks_total{job="httpserver",mptcp_role="server",mptcp_fallback_reason="not_negotiated"}`, eq(2)},
		{"server fallback connections ended", `mptcp_connection_duration_seconds_count{job="httpserver",mptcp_role="server",mptcp_fallback="true"}`, eq(2)},
	}
	if err := eventually(time.Minute, func(ctx context.Context) error { return prom.check(ctx, fallbacks) }); err != nil {
		t.Fatalf("metrics after the second plain-TCP request: %v", err)
	}
	// Every dashboard panel has data, and the fallback-rate panel shows
	// the server's fallback.
	err = eventually(time.Minute, func(ctx context.Context) error {
		var errs []error
		for _, q := range panels {
			s, err := prom.hasData(ctx, q, rateWindow)
			if err == nil && q.Panel == "Fallback rate" && !positiveFor(s, "mptcp_role", "server") {
				err = fmt.Errorf("panel %q: no positive value for the server: %v", q.Panel, s)
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	t.Logf("dashboard: %d queries of %s have data", len(panels), dashboardFile)
	for _, p := range []*proc{j.proc, vl.proc, prom.proc, server, client} {
		checkLoopbackOnly(t, p)
	}

	// Stop the client: it closes its connections, which ends their spans,
	// and flushes them to Jaeger. A race it ran into fails its exit status.
	if err := client.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("httpclient: %v", err)
	}
	requests, received := clientTotals(client.output())
	t.Logf("client: %d responses, %d bytes", requests, received)

	// Once the client is gone, the server closes its side: nothing open,
	// and the server sent at least what the client received, and not more
	// than the responses it began.
	sentMin := float64(received + 2*plainSize)
	sentMax := float64(received + 2*plainSize + responseSize + (requests+3)*headerSlack)
	closed := []check{
		{"server connections open", `mptcp_connection_active{job="httpserver",mptcp_role="server"}`, eq(0)},
		{"server subflows open", `mptcp_subflow_active{job="httpserver",mptcp_role="server"}`, eq(0)},
		{"server bytes sent", `mptcp_io_bytes_total{job="httpserver",mptcp_role="server",network_io_direction="transmit"}`, between(sentMin, sentMax)},
		{"server bytes received", `mptcp_io_bytes_total{job="httpserver",mptcp_role="server",network_io_direction="receive"}`, between(float64((requests+2)*20), float64((requests+3)*headerSlack))},
		{"client bytes received, last scrape", `max_over_time(mptcp_io_bytes_total{job="httpclient",mptcp_role="client",network_io_direction="receive"}[10m])`, between(3*responseSize, float64(received+responseSize+(requests+1)*headerSlack))},
	}
	if err := eventually(time.Minute, func(ctx context.Context) error { return prom.check(ctx, closed) }); err != nil {
		t.Fatalf("metrics after the client closed: %v", err)
	}

	// Jaeger: the client's connection spans are children of request spans
	// and saw their subflow; the server has two more connection spans, the
	// plain-TCP fallbacks. Every request span of both sides links to the
	// span of its connection, on its side.
	var clientConns, clientReqs, serverReqs int
	err = eventually(time.Minute, func(ctx context.Context) error {
		var err error
		clientConns, err = checkClientTraces(ctx, j, requests, received)
		if err != nil {
			return err
		}
		if err := checkServerTraces(ctx, j, clientConns); err != nil {
			return err
		}
		if clientReqs, err = checkRequestSpans(ctx, j, "httpclient", "client", requests, 0); err != nil {
			return err
		}
		serverReqs, err = checkRequestSpans(ctx, j, "httpserver", "server", requests+2, 2)
		return err
	})
	if err != nil {
		t.Fatalf("jaeger: %v", err)
	}
	t.Logf("jaeger: %d client connection spans under request spans, %d server connection spans; %d client and %d server request spans, each linked to an mptcp.connection span of its side",
		clientConns, clientConns+2, clientReqs, serverReqs)
	count := []check{{"server connections ended", `sum(mptcp_connection_duration_seconds_count{job="httpserver",mptcp_role="server"})`, eq(float64(clientConns + 2))}}
	if err := eventually(time.Minute, func(ctx context.Context) error { return prom.check(ctx, count) }); err != nil {
		t.Fatalf("metrics: %v", err)
	}

	if err := server.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("httpserver: %v", err)
	}
	// Every span event came out as a log record too, tied to its span, in
	// VictoriaLogs.
	for _, p := range []*proc{client, server} {
		var n int
		err := eventually(time.Minute, func(ctx context.Context) error {
			var err error
			n, err = checkLogEvents(ctx, j, vl, p.name)
			return err
		})
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		t.Logf("logs: %s: %d event log records in VictoriaLogs, each the twin of a span event of its connection span", p.name, n)
	}
	t.Logf("timing: run and checks %v", time.Since(began).Round(time.Millisecond))

	// The gRPC examples, against the same Jaeger and VictoriaLogs.
	t.Run("grpc", func(t *testing.T) { testGRPC(t, j, vl, bin) })
}

// phase returns a context for one phase of the test, ended after d.
func phase(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// plainRequest makes one request to the server over plain TCP, which the
// server must answer in full and on a connection that is not MPTCP.
func plainRequest(t *testing.T, server string) {
	t.Helper()
	plain := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := plain.Get(fmt.Sprintf("http://%s/?n=%d", server, plainSize))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != plainSize || resp.Header.Get("Mptcp") != "false" {
		t.Fatalf("plain TCP request: %d bytes (%v), Mptcp header %q; want %d bytes and false", n, err, resp.Header.Get("Mptcp"), plainSize)
	}
}

// responseLine matches the client's log line for a complete response.
var responseLine = regexp.MustCompile(`200 OK, (\d+) bytes`)

// clientTotals counts the client's complete responses and their bytes.
func clientTotals(lines []string) (requests, bytes int) {
	for _, l := range lines {
		if m := responseLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			requests++
			bytes += n
		}
	}
	return requests, bytes
}

// positiveFor reports whether a series whose label key is value has a
// positive value.
func positiveFor(s []sample, key, value string) bool {
	for _, x := range s {
		if x.Metric[key] == value && x.Value > 0 {
			return true
		}
	}
	return false
}

// checkLoopbackOnly fails t if the process p listens on, or has bound, an
// address other than loopback.
func checkLoopbackOnly(t *testing.T, p *proc) {
	t.Helper()
	addrs, err := boundAddrs(p.cmd.Process.Pid)
	if err != nil {
		t.Logf("%s: cannot list its sockets: %v", p.name, err)
		return
	}
	if len(addrs) == 0 {
		t.Errorf("%s: listens on nothing", p.name)
	}
	for _, a := range addrs {
		if !a.Addr().IsLoopback() {
			t.Errorf("%s listens on %v: not loopback", p.name, a)
		}
	}
	t.Logf("%s listens on %v", p.name, addrs)
}
