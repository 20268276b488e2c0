package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// Events that mptcpx emits as log records only, with no span event to be
// the twin of: a connection's life in the logs.
const (
	eventEstablished = "mptcp.connection.established"
	eventReport      = "mptcp.connection.report"
)

// logOnly reports whether event is one of them.
func logOnly(event string) bool { return event == eventEstablished || event == eventReport }

// traceLine matches the trace id in the client's log line for a response.
var traceLine = regexp.MustCompile(`trace ([0-9a-f]{32})`)

// liveConn is what VictoriaLogs showed of a connection while it was open.
type liveConn struct {
	span    string // the span id of its records
	reports int
}

// checkLiveReports wants VictoriaLogs to show the connection the client
// opened for its first request while the connection is still open: found
// by the trace id of that request (the connection span's parent, in the
// same trace), one mptcp.connection.established record and at least
// reports mptcp.connection.report records of service's client role, all of
// one span; each report with the connection's cumulative counters
// (mptcp.bytes.received at least received) and its one loopback subflow in
// mptcp.subflows.list.
func checkLiveReports(ctx context.Context, vl *victoriaLogs, service, trace string, reports, received int) (liveConn, error) {
	var live liveConn
	rs, err := vl.query(ctx, fmt.Sprintf("trace_id:=%q event_name:in(%q, %q)", trace, eventEstablished, eventReport))
	if err != nil {
		return live, err
	}
	var est []vlRecord
	for _, r := range rs {
		if r["service.name"] != service {
			continue
		}
		if r["event_name"] == eventEstablished {
			est = append(est, r)
			continue
		}
		live.reports++
		if err := checkReport(r, received); err != nil {
			return live, fmt.Errorf("%s: report of trace %s: %v", service, trace, err)
		}
		if live.span != "" && r["span_id"] != live.span {
			return live, fmt.Errorf("%s: reports of trace %s on spans %s and %s, want one connection", service, trace, live.span, r["span_id"])
		}
		live.span = r["span_id"]
	}
	if len(est) != 1 {
		return live, fmt.Errorf("%s: %d %s records on trace %s, want 1", service, len(est), eventEstablished, trace)
	}
	if r := est[0]; r["mptcp.role"] != "client" || r["network.peer.address"] != "127.0.0.1" || r["server.address"] != "127.0.0.1" || r["network.transport"] != "tcp" {
		return live, fmt.Errorf("%s: %s record %v, want the span's start attributes of a client connection to 127.0.0.1", service, eventEstablished, r)
	}
	if live.reports < reports {
		return live, fmt.Errorf("%s: %d %s records on trace %s while the connection is open, want at least %d", service, live.reports, eventReport, trace, reports)
	}
	if est[0]["span_id"] != live.span {
		return live, fmt.Errorf("%s: established record on span %s, reports on span %s", service, est[0]["span_id"], live.span)
	}
	return live, nil
}

// checkReport checks one report of a client connection: MPTCP on one
// loopback subflow, the bytes it received so far.
func checkReport(r vlRecord, received int) error {
	for k, want := range map[string]string{"mptcp.role": "client", "mptcp.fallback": "false", "mptcp.subflows.active": "1", "mptcp.subflows.max": "1"} {
		if r[k] != want {
			return fmt.Errorf("%s = %q, want %q", k, r[k], want)
		}
	}
	if n, err := strconv.Atoi(r["mptcp.bytes.received"]); err != nil || n < received {
		return fmt.Errorf("mptcp.bytes.received = %q, want at least %d", r["mptcp.bytes.received"], received)
	}
	if r["severity_number"] != "9" {
		return fmt.Errorf("severity %s, want 9 (Info)", r["severity_number"])
	}
	// VictoriaLogs keeps a list attribute as one JSON field.
	var subflows []map[string]any
	if err := json.Unmarshal([]byte(r["mptcp.subflows.list"]), &subflows); err != nil {
		return fmt.Errorf("mptcp.subflows.list = %q: %v", r["mptcp.subflows.list"], err)
	}
	if len(subflows) != 1 {
		return fmt.Errorf("mptcp.subflows.list has %d subflows, want 1: %v", len(subflows), subflows)
	}
	sf := subflows[0]
	for _, k := range []string{"mptcp.subflow.id", "network.local.port", "network.peer.port", "mptcp.subflow.bytes.sent",
		"mptcp.subflow.bytes.received", "mptcp.subflow.bytes.retransmitted", "mptcp.subflow.rtt", "mptcp.subflow.spurious_retransmissions"} {
		if _, ok := sf[k]; !ok {
			return fmt.Errorf("mptcp.subflows.list: subflow %v without %s", sf, k)
		}
	}
	if sf["network.local.address"] != "127.0.0.1" || sf["network.peer.address"] != "127.0.0.1" {
		return fmt.Errorf("mptcp.subflows.list: subflow %v, want one on loopback", sf)
	}
	return nil
}

// checkLiveSpan wants the connection the reports were about among the
// client's mptcp.connection spans that Jaeger has once it closed.
func checkLiveSpan(ctx context.Context, j *jaeger, service string, live liveConn) error {
	traces, err := j.traces(ctx, service)
	if err != nil {
		return err
	}
	spans, _ := connSpans(traces, service)
	if !slices.ContainsFunc(spans, func(s *jaegerSpan) bool { return hexID(s.SpanID, 16) == live.span }) {
		return fmt.Errorf("%s: no mptcp.connection span %s in Jaeger, the span of the live connection's reports", service, live.span)
	}
	return nil
}

// checkLifeRecords wants, once service's connections are all closed and
// their spans in Jaeger, one mptcp.connection.established record for every
// mptcp.connection span of the service, on that span, and every report of
// the service on one of those spans; at least minReports reports in all. It
// returns the numbers of established records and reports.
func checkLifeRecords(ctx context.Context, j *jaeger, vl *victoriaLogs, service string, minReports int) (established, reports int, err error) {
	traces, err := j.traces(ctx, service)
	if err != nil {
		return 0, 0, err
	}
	spans, _ := connSpans(traces, service)
	ids := map[string]int{}
	for _, s := range spans {
		ids[hexID(s.SpanID, 16)] = 0
	}
	rs, err := vl.query(ctx, fmt.Sprintf("{service.name=%q} event_name:in(%q, %q)", service, eventEstablished, eventReport))
	if err != nil {
		return 0, 0, err
	}
	for _, r := range rs {
		n, ok := ids[r["span_id"]]
		if !ok {
			return 0, 0, fmt.Errorf("%s: %s record on span %s, which is none of the service's %d mptcp.connection spans", service, r["event_name"], r["span_id"], len(spans))
		}
		if r["event_name"] == eventReport {
			reports++
			continue
		}
		ids[r["span_id"]] = n + 1
		established++
	}
	for id, n := range ids {
		if n != 1 {
			return 0, 0, fmt.Errorf("%s: connection span %s has %d %s records, want 1", service, id, n, eventEstablished)
		}
	}
	if reports < minReports {
		return 0, 0, fmt.Errorf("%s: %d %s records, want at least %d", service, reports, eventReport, minReports)
	}
	return established, reports, nil
}
