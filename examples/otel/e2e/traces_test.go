package e2e

import (
	"context"
	"fmt"
)

// connSpans returns the mptcp.connection spans of service in the traces,
// each with its trace. A trace may hold the spans of several services: an
// HTTP client's connection span is the child of a request span whose
// trace goes on in the server's request span.
func connSpans(traces []jaegerTrace, service string) (spans []*jaegerSpan, of []*jaegerTrace) {
	for i := range traces {
		for k := range traces[i].Spans {
			s := &traces[i].Spans[k]
			if s.OperationName == "mptcp.connection" && traces[i].Processes[s.ProcessID].ServiceName == service {
				spans = append(spans, s)
				of = append(of, &traces[i])
			}
		}
	}
	return spans, of
}

// checkSubflowAdded wants the span to have an mptcp.subflow.added event
// for a subflow on loopback.
func checkSubflowAdded(s *jaegerSpan) error {
	added := s.events("mptcp.subflow.added")
	if len(added) == 0 {
		return fmt.Errorf("span %s: no mptcp.subflow.added event (logs %v)", s.SpanID, s.Logs)
	}
	for _, ev := range added {
		if _, ok := tag(ev, "mptcp.subflow.id"); !ok {
			return fmt.Errorf("span %s: mptcp.subflow.added without mptcp.subflow.id: %v", s.SpanID, ev)
		}
		if a, _ := tag(ev, "network.local.address"); a != "127.0.0.1" {
			return fmt.Errorf("span %s: mptcp.subflow.added on network.local.address %v, want 127.0.0.1", s.SpanID, a)
		}
	}
	return nil
}

// number returns a numeric tag's value.
func number(kvs []jaegerKV, key string) (float64, bool) {
	v, ok := tag(kvs, key)
	f, isNum := v.(float64)
	return f, ok && isNum
}

// checkClientTraces wants, from the client, at least one request span
// (otelhttp's) per complete response, and MPTCP connection spans that are
// children of request spans, saw their subflow, and together received at
// least the bytes of the complete responses. It returns the number of
// connection spans.
func checkClientTraces(ctx context.Context, j *jaeger, requests, received int) (int, error) {
	traces, err := j.traces(ctx, "httpclient")
	if err != nil {
		return 0, err
	}
	gets := 0
	for _, tr := range traces {
		for _, s := range tr.Spans {
			if s.OperationName == httpClientSpan {
				gets++
			}
		}
	}
	if gets < requests {
		return 0, fmt.Errorf("client: %d %s spans, want at least %d", gets, httpClientSpan, requests)
	}
	conns, of := connSpans(traces, "httpclient")
	if len(conns) == 0 {
		return 0, fmt.Errorf("client: no mptcp.connection span in %d traces", len(traces))
	}
	var bytes float64
	for i, s := range conns {
		parent := ""
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				parent = r.SpanID
			}
		}
		parentName := ""
		for _, p := range of[i].Spans {
			if p.SpanID == parent {
				parentName = p.OperationName
			}
		}
		if parentName != httpClientSpan {
			return 0, fmt.Errorf("client: connection span %s has parent %q (%q), want a %s span", s.SpanID, parent, parentName, httpClientSpan)
		}
		if r, _ := tag(s.Tags, "mptcp.role"); r != "client" {
			return 0, fmt.Errorf("client: connection span %s: mptcp.role %v", s.SpanID, r)
		}
		if f, _ := tag(s.Tags, "mptcp.fallback"); f != false {
			return 0, fmt.Errorf("client: connection span %s: mptcp.fallback %v, want false", s.SpanID, f)
		}
		if err := checkSubflowAdded(s); err != nil {
			return 0, fmt.Errorf("client: %v", err)
		}
		b, ok := number(s.Tags, "mptcp.bytes.received")
		if !ok {
			return 0, fmt.Errorf("client: connection span %s: no mptcp.bytes.received", s.SpanID)
		}
		bytes += b
	}
	if bytes < float64(received) {
		return 0, fmt.Errorf("client: connection spans received %v bytes in all, want at least %d", bytes, received)
	}
	return len(conns), nil
}

// checkServerTraces wants one server connection span per client connection,
// MPTCP with its subflow, and two more, the plain-TCP requests', each with a
// fallback event.
func checkServerTraces(ctx context.Context, j *jaeger, clientConns int) error {
	traces, err := j.traces(ctx, "httpserver")
	if err != nil {
		return err
	}
	conns, _ := connSpans(traces, "httpserver")
	if len(conns) != clientConns+2 {
		return fmt.Errorf("server: %d connection spans, want %d", len(conns), clientConns+2)
	}
	fallbacks := 0
	for _, s := range conns {
		if r, _ := tag(s.Tags, "mptcp.role"); r != "server" {
			return fmt.Errorf("server: connection span %s: mptcp.role %v", s.SpanID, r)
		}
		f, _ := tag(s.Tags, "mptcp.fallback")
		switch f {
		case true:
			fallbacks++
			if len(s.events("mptcp.fallback")) != 1 {
				return fmt.Errorf("server: fallback connection span %s: no mptcp.fallback event (logs %v)", s.SpanID, s.Logs)
			}
		case false:
			if err := checkSubflowAdded(s); err != nil {
				return fmt.Errorf("server: %v", err)
			}
		default:
			return fmt.Errorf("server: connection span %s: mptcp.fallback %v", s.SpanID, f)
		}
	}
	if fallbacks != 2 {
		return fmt.Errorf("server: %d fallback connection spans, want 2", fallbacks)
	}
	return nil
}
