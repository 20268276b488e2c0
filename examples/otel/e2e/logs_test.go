package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// checkLogEvents wants every span event of service's mptcp.connection spans
// in Jaeger to have its twin log record in VictoriaLogs, and no record
// without a span event. It asks VictoriaLogs for the records of each
// connection span's trace (LogsQL, by trace id): each event must have a
// record of the same span id with the same event name (event_name, from the
// record's EventName), severity Info and the same attributes, no more and
// no fewer; and the service's mptcpx event records must all be among them.
// It returns the number of records.
func checkLogEvents(ctx context.Context, j *jaeger, vl *victoriaLogs, service string) (int, error) {
	traces, err := j.traces(ctx, service)
	if err != nil {
		return 0, err
	}
	conns, _ := connSpans(traces, service)
	type key struct{ trace, span, event string }
	events := map[key][][]jaegerKV{}
	var traceIDs []string
	spanEvents := 0
	for _, s := range conns {
		trace, span := hexID(s.TraceID, 32), hexID(s.SpanID, 16)
		if !slices.Contains(traceIDs, trace) {
			traceIDs = append(traceIDs, trace)
		}
		for _, l := range s.Logs {
			name, _ := tag(l.Fields, "event")
			k := key{trace, span, fmt.Sprint(name)}
			events[k] = append(events[k], l.Fields)
			spanEvents++
		}
	}
	if spanEvents == 0 {
		return 0, fmt.Errorf("%s: no span events in Jaeger to compare the log records with", service)
	}

	records := 0
	for _, trace := range traceIDs {
		rs, err := vl.query(ctx, fmt.Sprintf("trace_id:=%q", trace))
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r["service.name"] != service || !strings.HasPrefix(r["event_name"], "mptcp.") {
				continue
			}
			records++
			k := key{r["trace_id"], r["span_id"], r["event_name"]}
			evs := events[k]
			if len(evs) == 0 {
				return 0, fmt.Errorf("%s: log record %s of trace %s span %s: no such span event in Jaeger (as many left as there are records of the same)", service, k.event, k.trace, k.span)
			}
			// Records of one span and name are matched in turn with the
			// events of the same: first with the first whose attributes
			// are the same.
			i := slices.IndexFunc(evs, func(ev []jaegerKV) bool { return sameAttributes(ev, r) == nil })
			if i < 0 {
				return 0, fmt.Errorf("%s: log record %s of span %s: %v", service, k.event, k.span, sameAttributes(evs[0], r))
			}
			events[k] = slices.Delete(evs, i, i+1)
			// mptcpx sets the number only; VictoriaLogs names it (Info).
			if r["severity_number"] != "9" || !strings.EqualFold(r["severity_text"], "info") {
				return 0, fmt.Errorf("%s: log record %s of span %s: severity %s %q, want 9 (Info)", service, k.event, k.span, r["severity_number"], r["severity_text"])
			}
		}
	}
	if records != spanEvents {
		var missing []error
		for k, evs := range events {
			for range evs {
				missing = append(missing, fmt.Errorf("%s of trace %s span %s", k.event, k.trace, k.span))
			}
		}
		return 0, fmt.Errorf("%s: %d event log records for %d span events on %d connection spans; no record for %w",
			service, records, spanEvents, len(conns), errors.Join(missing...))
	}
	// No record of the service on another trace.
	total, err := vl.count(ctx, fmt.Sprintf(`{service.name=%q} event_name:~"^mptcp\\."`, service))
	if err != nil {
		return 0, err
	}
	if total != records {
		return 0, fmt.Errorf("%s: %d event log records in VictoriaLogs, %d of them on the traces of the connection spans", service, total, records)
	}
	return records, nil
}

// eventAttribute reports whether a record's field is one of the attribute
// namespaces of mptcpx's events (the others are the resource's and the
// record's own fields).
func eventAttribute(field string) bool {
	for _, ns := range []string{"mptcp.", "network.", "error."} {
		if strings.HasPrefix(field, ns) {
			return true
		}
	}
	return false
}

// sameAttributes returns nil when the record has the span event's
// attributes with the same values (VictoriaLogs keeps every value as a
// string; Jaeger's JSON has numbers and booleans), and no other attribute of
// mptcpx's namespaces.
func sameAttributes(ev []jaegerKV, r vlRecord) error {
	seen := map[string]bool{}
	for _, kv := range ev {
		if kv.Key == "event" {
			continue
		}
		seen[kv.Key] = true
		got, ok := r[kv.Key]
		if !ok {
			return fmt.Errorf("no attribute %s (the span event has %v)", kv.Key, kv.Value)
		}
		same := false
		switch want := kv.Value.(type) {
		case string:
			same = got == want
		case bool:
			same = got == strconv.FormatBool(want)
		case float64:
			f, err := strconv.ParseFloat(got, 64)
			same = err == nil && f == want
		}
		if !same {
			return fmt.Errorf("attribute %s = %q, the span event has %v (%s)", kv.Key, got, kv.Value, kv.Type)
		}
	}
	for field := range r {
		if eventAttribute(field) && !seen[field] {
			return fmt.Errorf("attribute %s = %q, which the span event does not have", field, r[field])
		}
	}
	return nil
}

// hexID returns a trace or span id as n hex digits: Jaeger leaves out the
// leading zeros of a trace id's first half when it is zero.
func hexID(id string, n int) string {
	if len(id) < n {
		id = strings.Repeat("0", n-len(id)) + id
	}
	return strings.ToLower(id)
}
