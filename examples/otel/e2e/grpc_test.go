package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RPC span names otelgrpc gives grpcclient's two calls.
var grpcMethods = []string{"grpc.testing.TestService/UnaryCall", "grpc.testing.TestService/StreamingOutputCall"}

// testGRPC runs the grpcserver and grpcclient examples, exporting spans to
// j and log records to vl, until the client has done a few rounds, stops
// both, and then asks Jaeger for the RPC spans of both sides: each must
// link to the mptcp.connection span of its side's connection, which saw its
// subflow, and the server's must be children of the client's (the W3C
// context that otelenv propagates). Every span event of the connection
// spans must have its twin log record in VictoriaLogs.
func testGRPC(t *testing.T, j *jaeger, vl *victoriaLogs, bin string) {
	began := time.Now()
	env := func(service string) []string {
		return []string{
			"OTEL_SERVICE_NAME=" + service,
			"OTEL_TRACES_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + j.otlp,
			"OTEL_BSP_SCHEDULE_DELAY=200",
			"OTEL_LOGS_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=" + vl.otlpLogs(),
			"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/protobuf",
			"OTEL_BLRP_SCHEDULE_DELAY=200",
			"OTEL_METRICS_EXPORTER=none",
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server := start(t, "grpcserver", filepath.Join(bin, "grpcserver"), env("grpcserver"), "-addr", addr)
	if _, _, err := server.waitLine(phase(t, time.Minute), 0, "listening on "+addr); err != nil {
		t.Fatal(err)
	}
	client := start(t, "grpcclient", filepath.Join(bin, "grpcclient"), env("grpcclient"), "-addr", addr, "-n", "0", "-every", "250ms")
	from := 0
	for range 3 {
		line, i, err := client.waitLine(phase(t, time.Minute), from, "round")
		if err != nil {
			t.Fatal(err)
		}
		if want := "round OK, 524288 bytes streamed, mptcp true (client) true (server)"; !strings.Contains(line, want) {
			t.Fatalf("grpcclient: %q, want %q", line, want)
		}
		from = i + 1
	}
	checkLoopbackOnly(t, server) // the client, with no metrics exporter, listens on nothing
	// The client closes its connection, which ends its span on both sides,
	// and flushes; the server flushes when it stops.
	if err := client.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("grpcclient: %v", err)
	}
	rounds := 0
	for _, l := range client.output() {
		if strings.Contains(l, "round OK") {
			rounds++
		}
	}
	if err := server.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("grpcserver: %v", err)
	}

	var clientRPCs, serverRPCs int
	err := eventually(time.Minute, func(ctx context.Context) error {
		var err error
		if clientRPCs, err = checkRPCSpans(ctx, j, "grpcclient", "client", rounds); err != nil {
			return err
		}
		serverRPCs, err = checkRPCSpans(ctx, j, "grpcserver", "server", rounds)
		return err
	})
	if err != nil {
		t.Fatalf("jaeger: %v", err)
	}
	for _, p := range []*proc{client, server} {
		err := eventually(time.Minute, func(ctx context.Context) error {
			_, err := checkLogEvents(ctx, j, vl, p.name)
			return err
		})
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
	}
	t.Logf("jaeger: %d rounds; %d client and %d server RPC spans, each linked to an mptcp.connection span with its subflow (%v)",
		rounds, clientRPCs, serverRPCs, time.Since(began).Round(time.Millisecond))
}

// checkRPCSpans wants, among service's spans of kind (client or server),
// at least rounds RPC spans of each of grpcMethods, every successful one with
// a FOLLOWS_FROM reference (Jaeger's name for a span link) to an MPTCP
// mptcp.connection span of the same service and role that saw its
// subflow. Server RPC spans must be children of client RPC spans. It
// returns the number of RPC spans.
func checkRPCSpans(ctx context.Context, j *jaeger, service, kind string, rounds int) (int, error) {
	traces, err := j.traces(ctx, service)
	if err != nil {
		return 0, err
	}
	conns := map[string]*jaegerSpan{} // by trace and span id
	spans, _ := connSpans(traces, service)
	for _, s := range spans {
		conns[s.TraceID+"/"+s.SpanID] = s
	}
	perMethod := map[string]int{}
	total := 0
	for _, tr := range traces {
		for k := range tr.Spans {
			s := &tr.Spans[k]
			if k, _ := tag(s.Tags, "span.kind"); k != kind || tr.Processes[s.ProcessID].ServiceName != service {
				continue
			}
			if st, _ := tag(s.Tags, "otel.status_code"); st == "ERROR" {
				continue // the RPC the client's interruption cancelled: it may have had no connection yet
			}
			perMethod[s.OperationName]++
			total++
			var linked []*jaegerSpan
			parent := ""
			for _, r := range s.References {
				switch r.RefType {
				case "FOLLOWS_FROM":
					if c, ok := conns[r.TraceID+"/"+r.SpanID]; ok {
						linked = append(linked, c)
					}
				case "CHILD_OF":
					parent = r.SpanID
				}
			}
			if len(linked) != 1 {
				return 0, fmt.Errorf("%s: %s span %s links to %d of the service's %d mptcp.connection spans, want 1 (references %v)",
					service, s.OperationName, s.SpanID, len(linked), len(conns), s.References)
			}
			c := linked[0]
			if r, _ := tag(c.Tags, "mptcp.role"); r != kind {
				return 0, fmt.Errorf("%s: %s span %s links to a connection span of mptcp.role %v", service, s.OperationName, s.SpanID, r)
			}
			if f, _ := tag(c.Tags, "mptcp.fallback"); f != false {
				return 0, fmt.Errorf("%s: connection span %s: mptcp.fallback %v, want false", service, c.SpanID, f)
			}
			if err := checkSubflowAdded(c); err != nil {
				return 0, fmt.Errorf("%s: %v", service, err)
			}
			if kind == "server" && parentName(tr, parent) != s.OperationName {
				return 0, fmt.Errorf("%s: %s span %s has parent %q (%q), want the client's %s span", service, s.OperationName, s.SpanID, parent, parentName(tr, parent), s.OperationName)
			}
		}
	}
	for _, m := range grpcMethods {
		if perMethod[m] < rounds {
			return 0, fmt.Errorf("%s: %d %s spans %s, want at least %d (one per round)", service, perMethod[m], kind, m, rounds)
		}
	}
	return total, nil
}

// parentName returns the operation name of the span id in tr, "" if none.
func parentName(tr jaegerTrace, id string) string {
	for _, s := range tr.Spans {
		if s.SpanID == id {
			return s.OperationName
		}
	}
	return ""
}
