package e2e

import (
	"context"
	"fmt"
)

// httpClientSpan is the name otelhttp's transport gives httpclient's
// request spans.
const httpClientSpan = "HTTP GET"

// checkRequestSpans wants, among service's spans of kind (client or
// server: otelhttp's request spans), at least requests that succeeded,
// each with a FOLLOWS_FROM reference (Jaeger's name for a span link) to
// exactly one mptcp.connection span of the same service and role: an MPTCP
// one that saw its subflow, or, for exactly plain of them, a connection
// that fell back to TCP (the server's plain-TCP requests). A server
// request span on an MPTCP connection must be the child of a client
// request span (the W3C context that otelenv propagates). It returns the
// number of request spans.
func checkRequestSpans(ctx context.Context, j *jaeger, service, kind string, requests, plain int) (int, error) {
	traces, err := j.traces(ctx, service)
	if err != nil {
		return 0, err
	}
	conns := map[string]*jaegerSpan{} // by trace and span id
	spans, _ := connSpans(traces, service)
	for _, s := range spans {
		conns[s.TraceID+"/"+s.SpanID] = s
	}
	total, onPlain := 0, 0
	for _, tr := range traces {
		for k := range tr.Spans {
			s := &tr.Spans[k]
			if k, _ := tag(s.Tags, "span.kind"); k != kind || tr.Processes[s.ProcessID].ServiceName != service {
				continue
			}
			if st, _ := tag(s.Tags, "otel.status_code"); st == "ERROR" {
				continue // the request the client's interruption cancelled
			}
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
			switch f, _ := tag(c.Tags, "mptcp.fallback"); f {
			case true:
				onPlain++
				continue
			case false:
			default:
				return 0, fmt.Errorf("%s: connection span %s: mptcp.fallback %v", service, c.SpanID, f)
			}
			if err := checkSubflowAdded(c); err != nil {
				return 0, fmt.Errorf("%s: %v", service, err)
			}
			if kind == "server" && parentName(tr, parent) != httpClientSpan {
				return 0, fmt.Errorf("%s: %s span %s has parent %q (%q), want the client's %s span", service, s.OperationName, s.SpanID, parent, parentName(tr, parent), httpClientSpan)
			}
		}
	}
	if total < requests {
		return 0, fmt.Errorf("%s: %d %s request spans, want at least %d", service, total, kind, requests)
	}
	if onPlain != plain {
		return 0, fmt.Errorf("%s: %d %s request spans link to a connection that fell back to TCP, want %d", service, onPlain, kind, plain)
	}
	return total, nil
}
