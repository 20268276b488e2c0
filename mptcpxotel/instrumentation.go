package mptcpxotel

import (
	"context"
	"net"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/conntrace"
)

// instrumentation records the telemetry of every connection it is told
// of: one mptcp.connection span per connection, its events as span events
// and as log records, and the mptcp.* metrics. It implements
// conntrace.Hooks; package mptcpx installs it on every connection (see
// mptcpx.WithTelemetry, the one way to configure it). It is safe for
// concurrent use and shared: its instruments and attribute sets are made
// once per set of options (see shared).
type instrumentation struct {
	tracer       trace.Tracer
	logger       log.Logger // nil: no log-based events
	spanEvents   bool
	m            *meters
	eventEnabled log.EnabledParameters

	// The events of a connection's life in the logs (report.go): the
	// period of the reports (0: none), and what the logger is asked.
	report                            time.Duration
	establishedEnabled, reportEnabled log.EnabledParameters
}

var _ conntrace.Hooks = (*instrumentation)(nil)

// newInstrumentation returns an instrumentation that records through the
// configured providers, the global ones by default (resolved now: the
// global providers delegate to an SDK installed later). Errors creating
// instruments go to otel.Handle; the instrument concerned then records
// nothing.
func newInstrumentation(cfg config) *instrumentation {
	t := &instrumentation{
		tracer: cfg.tracerProvider.Tracer(ScopeName,
			trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL)),
		spanEvents:   !cfg.noSpanEvents,
		m:            newMeters(cfg.meterProvider, cfg.peerAttributes),
		eventEnabled: log.EnabledParameters{Severity: log.SeverityInfo},
	}
	if !cfg.noLogEvents {
		t.logger = cfg.loggerProvider.Logger(ScopeName,
			log.WithInstrumentationVersion(Version), log.WithSchemaURL(semconv.SchemaURL))
	}
	t.initReports(cfg)
	return t
}

// The connection span has kind Internal whichever side it is on: it spans
// a connection's life, not a request, and a Client or Server kind would
// make span-metrics pipelines count connections as requests.

// DialStart starts the span of a dial. Its parent is the span in ctx (an
// http.Client request's, for example); the returned context carries the new
// span, so that what the dial does (name resolution, ...) nests in it.
func (t *instrumentation) DialStart(ctx context.Context, start conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	kv := make([]attribute.KeyValue, 0, 5)
	kv = append(kv, semconv.NetworkTransportTCP, keyRole.String(conntrace.RoleClient.String()))
	switch start.Network {
	case "tcp4":
		kv = append(kv, semconv.NetworkTypeIPv4)
	case "tcp6":
		kv = append(kv, semconv.NetworkTypeIPv6)
	}
	kv = appendServer(kv, start.Address)
	ctx, span := t.tracer.Start(ctx, spanName,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(start.Time),
		trace.WithAttributes(kv...))
	c := t.newConn(span, conntrace.RoleClient, start.Time)
	c.target = start.Address
	return ctx, c
}

// Accepted starts the span of an accepted connection: the root of a trace
// of its own, since nothing links a connection to the trace of whoever
// dialed it. server.address and server.port are the local end's.
func (t *instrumentation) Accepted(conn net.Conn, start time.Time) conntrace.ConnHooks {
	local, peer := addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr())
	kv := make([]attribute.KeyValue, 0, 9)
	kv = append(kv, semconv.NetworkTransportTCP, keyRole.String(conntrace.RoleServer.String()))
	if nt, ok := networkType(local.Addr()); ok {
		kv = append(kv, nt)
	}
	kv = appendLocal(kv, local)
	kv = appendPeer(kv, peer)
	if local.Addr().IsValid() {
		kv = append(kv, semconv.ServerAddress(local.Addr().String()), semconv.ServerPort(int(local.Port())))
	}
	_, span := t.tracer.Start(context.Background(), spanName,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(start),
		trace.WithAttributes(kv...))
	return t.newConn(span, conntrace.RoleServer, start)
}
