package mptcpxotel

import (
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/mptcpx/mptcpx/conntrace"
)

// pathsChanged records a change of the diagnosis of the connection's paths
// (what keeps it from more subflows): the span attribute mptcp.paths.limit
// set again (a span's attributes can be overwritten until it ends, not
// removed: a limit that went away reads "none"), the connection moved
// between the series of mptcp.connection.paths.limited, and the
// mptcp.paths.limit event with the detail.
//
// The event is a span event too, as every event of this package is: the
// span attribute says what limits the connection now (or when it ended),
// the event when that changed and why, with detail (the join that failed,
// its error, the counts read) that would go stale as span attributes,
// which a later change could overwrite but not remove. Jaeger and Tempo
// show span events; the log record, for backends that take events as logs
// (OTEP 4430), also carries the diagnosis in words as its body.
func (c *connTracer) pathsChanged(s *conntrace.Sample) {
	d := &s.Paths
	if old := c.limit; old != conntrace.PathsLimitNone {
		c.ser.limited[old].Add(-1)
	}
	c.limit = d.Limit
	if d.Limit != conntrace.PathsLimitNone {
		c.ser.limited[d.Limit].Add(1)
	}
	if c.recording {
		c.span.SetAttributes(keyPathsLimit.String(d.Limit.String()))
	}
	if c.wantEvents() {
		c.emitBody(eventPathsLimit, s.Time, pathsAttributes(d), d.String())
	}
}

// pathsAttributes returns the attributes of an mptcp.paths.limit event:
// the limit, and what the diagnosis read, each only when known.
func pathsAttributes(d *conntrace.PathsDiagnosis) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 12)
	kv = append(kv, keyPathsLimit.String(d.Limit.String()))
	if d.Subflows > 0 {
		kv = append(kv, keyPathsSubflows.Int(d.Subflows))
	}
	switch d.Limit {
	case conntrace.PathsLimitFallback:
		return append(kv, keyFallbackReason.String(d.Fallback.String()))
	case conntrace.PathsLimitJoinFailed, conntrace.PathsLimitJoinRejected:
		j := &d.Join
		if j.Local.IsValid() {
			kv = append(kv, semconv.NetworkLocalAddress(j.Local.Addr().Unmap().String()))
		}
		if j.Remote.IsValid() {
			kv = append(kv, semconv.NetworkPeerAddress(j.Remote.Addr().Unmap().String()))
		}
		switch {
		case j.Error != 0:
			kv = append(kv, semconv.ErrorTypeKey.String(joinErrorType(j.Error)))
		case j.Timeout:
			kv = append(kv, semconv.ErrorTypeKey.String("timeout"))
		}
		if j.Reset {
			kv = append(kv, keyResetReason.String(resetReasonName(j.ResetReason)))
		}
		if j.State != 0 {
			kv = append(kv, keySubflowState.String(tcpStateName(j.State)), keySynRetransmits.Int64(int64(j.SynRetransmits)))
		}
	}
	if d.SubflowsMax >= 0 {
		kv = append(kv, keySubflowsLimit.Int(d.SubflowsMax))
	}
	if d.Endpoints >= 0 {
		kv = append(kv, keyPathsEndpoints.Int(d.Endpoints))
	}
	if d.Announced > 0 || d.Limit == conntrace.PathsLimitAddAddrMax {
		kv = append(kv, keyPathsAnnounced.Int(d.Announced), keyAddAddrLimit.Int(d.AddAddrAcceptedMax))
	}
	if d.PathManager != conntrace.PathManagerUnknown {
		kv = append(kv, keyPathManager.String(d.PathManager.String()))
	}
	if d.Unknown != 0 {
		kv = append(kv, keyPathsUnknown.String(d.Unknown.String()))
	}
	return kv
}

// joinErrorType names a failed join's socket error as error.type does
// elsewhere: the errno's name, or its number.
func joinErrorType(e syscall.Errno) string {
	if name := errnoName(e); name != "" {
		return name
	}
	return e.Error()
}
