package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// logRecord is a log record as the console log exporter
// (OTEL_LOGS_EXPORTER=console, package stdoutlog) writes it: one JSON
// object per line.
type logRecord struct {
	EventName       string
	SeverityText    string
	Severity        int
	TraceID, SpanID string
	Attributes      []struct {
		Key   string
		Value struct {
			Type  string
			Value any
		}
	}
}

// attr returns the value of the record's attribute key.
func (r *logRecord) attr(key string) (any, bool) {
	for _, kv := range r.Attributes {
		if kv.Key == key {
			return kv.Value.Value, true
		}
	}
	return nil, false
}

// eventRecords returns the log records among a program's output lines that
// are mptcpx connection events (an event name that starts with "mptcp.").
func eventRecords(lines []string) ([]logRecord, error) {
	var out []logRecord
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.Contains(l, `"EventName":"mptcp.`) {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("log record %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// checkLogEvents wants every span event of service's mptcp.connection
// spans in Jaeger to have come out as a log record too, and nothing else:
// the same event name, the span's trace and span ids, severity Info and
// the same mptcp.subflow.id, network.local.address and
// mptcp.fallback.reason. It returns the number of records.
func checkLogEvents(ctx context.Context, j *jaeger, service string, lines []string) (int, error) {
	records, err := eventRecords(lines)
	if err != nil {
		return 0, err
	}
	traces, err := j.traces(ctx, service)
	if err != nil {
		return 0, err
	}
	conns, _ := connSpans(traces, service)
	type key struct{ trace, span, event string }
	events := map[key][][]jaegerKV{}
	spanEvents := 0
	for _, s := range conns {
		for _, l := range s.Logs {
			name, _ := tag(l.Fields, "event")
			k := key{s.TraceID, s.SpanID, fmt.Sprint(name)}
			events[k] = append(events[k], l.Fields)
			spanEvents++
		}
	}
	if spanEvents == 0 {
		return 0, fmt.Errorf("%s: no span events in Jaeger to compare the log records with", service)
	}
	if len(records) != spanEvents {
		return 0, fmt.Errorf("%s: %d event log records, %d span events on %d connection spans", service, len(records), spanEvents, len(conns))
	}
	for _, r := range records {
		k := key{r.TraceID, r.SpanID, r.EventName}
		evs := events[k]
		if len(evs) == 0 {
			return 0, fmt.Errorf("%s: log record %s of trace %s span %s: no such span event in Jaeger (as many left as there are records of the same)", service, r.EventName, r.TraceID, r.SpanID)
		}
		ev := evs[0]
		events[k] = evs[1:]
		if r.SeverityText != "" && r.SeverityText != "INFO" || r.Severity != 9 {
			return 0, fmt.Errorf("%s: log record %s: severity %d %q, want 9 (Info)", service, r.EventName, r.Severity, r.SeverityText)
		}
		for _, a := range []string{"mptcp.subflow.id", "network.local.address", "mptcp.fallback.reason"} {
			want, inEvent := tag(ev, a)
			got, inRecord := r.attr(a)
			if inEvent != inRecord || fmt.Sprint(want) != fmt.Sprint(got) {
				return 0, fmt.Errorf("%s: log record %s of span %s: %s = %v (%v), the span event has %v (%v)", service, r.EventName, r.SpanID, a, got, inRecord, want, inEvent)
			}
		}
	}
	return len(records), nil
}
