// Package mptcpxotel is the OpenTelemetry instrumentation of mptcpx: one
// span per connection, events when subflows come and go or the connection
// falls back to TCP (as span events and as log records), and metrics on
// connections, subflows and bytes, all fed by the samples mptcpx takes of
// the kernel's MPTCP state.
//
// Its name, mptcpxotel, lets a program import it next to
// go.opentelemetry.io/otel without renaming either.
//
// Package mptcpx installs this instrumentation on every connection of its
// Dialers and Listeners, recording through the global OpenTelemetry
// providers: a program that installs an SDK (otel.SetTracerProvider,
// otel.SetMeterProvider, otel.SetLoggerProvider) gets the telemetry with no
// other change. The options of this package choose other providers and turn
// parts off; give them to mptcpx.WithTelemetry:
//
//	ln, err := mptcpx.Listen("tcp", ":8080", mptcpx.WithTelemetry(
//		mptcpxotel.WithTracerProvider(tp),
//		mptcpxotel.WithMeterProvider(mp),
//		mptcpxotel.WithoutSpanEvents(),
//	))
//
// mptcpx.WithoutTelemetry leaves it out; hooks of a program's own, installed
// with mptcpx.WithHooks (package conntrace), follow every connection beside
// it. With the default no-op providers it costs a few atomic additions per
// sample.
//
// # Span
//
// mptcp.connection, kind Internal, from the dial's start (or the accept) to
// Close. A dialed connection's parent is the span in the context given to
// DialContext, so an http.Client request span shows the connection it
// opened; an accepted connection starts a trace of its own. Attributes:
//
//	network.transport        "tcp"
//	network.type             "ipv4" or "ipv6" (IPv4-mapped addresses count as IPv4)
//	network.local.address    network.local.port
//	network.peer.address     network.peer.port
//	server.address           server.port: the dialed host and port (the local end on the server side)
//	mptcp.role               "client" or "server"
//
// and, when the connection closes:
//
//	mptcp.token              the kernel's connection token, 8 hex digits, as ip mptcp monitor and ss print it (MPTCP connections only)
//	mptcp.fallback           true when the connection was or became plain TCP
//	mptcp.subflows.max       the most subflows seen at once
//	mptcp.bytes.sent         mptcp_info's byte counters at the last sample (Linux 6.5+)
//	mptcp.bytes.received
//	mptcp.bytes.retransmitted
//	mptcp.bytes.unsent       bytes written but not yet sent when the program closed the connection
//	mptcp.bytes.discarded    of those, the bytes an abortive close discarded (SO_LINGER 0, a reset, a dead peer):
//	                         never sent, and not counted in mptcp.io; absent after an orderly close
//	mptcp.close.reason       "close", "closed_underneath" or "dropped": how the connection ended
//	mptcp.events.dropped     span events not recorded (only when over 128)
//
// A failed dial ends the span with status Error and error.type: "timeout",
// "canceled", the errno name (ECONNREFUSED, ENETUNREACH, ...) or the error's
// Go type.
//
// # Events
//
// Each event is recorded twice, in the two forms OpenTelemetry has had for
// events: as a span event on the connection's span, which Jaeger and Tempo
// show today, and as a log record through the Logs API, the form that
// OpenTelemetry asks new instrumentation to use since the Span Event API
// was deprecated (OTEP 4430). The log record carries the event's name
// (event.name), the same attributes, severity Info, the time of the change,
// and the context of the connection's span (trace and span id), so that a
// backend ties it to the span. WithoutSpanEvents and WithoutLogEvents turn
// either form off. The span takes at most 128 events (the rest are counted
// in mptcp.events.dropped); log records are not limited. A log record is
// built only when the logger provider is enabled for it: the global one
// drops everything until a program installs a log SDK.
//
// Timestamped at the sample that saw the change, or at the kernel's path
// event when the process receives them (mptcpx.PathEvents):
//
//	mptcp.subflow.added      mptcp.subflow.id, network.local.address/port, network.peer.address/port (once established),
//	                         and from path events mptcp.subflow.backup, network.interface.name
//	mptcp.subflow.removed    mptcp.subflow.id, mptcp.subflow.bytes.sent, mptcp.subflow.bytes.received,
//	                         mptcp.subflow.bytes.retransmitted, mptcp.subflow.rtt (seconds, float),
//	                         network.local.*, network.peer.*,
//	                         and from path events error.type, mptcp.subflow.reset.reason, mptcp.subflow.reset.flags
//	mptcp.fallback           mptcp.fallback.reason: not_negotiated, mid_connection or mptcp_unavailable
//	mptcp.subflow.join_failed  mptcp.subflow.id, mptcp.subflow.state, mptcp.subflow.syn_retransmits,
//	                         network.local.*, network.peer.*: a join never established
//	mptcp.subflow.priority   mptcp.subflow.id, mptcp.subflow.backup (path events only)
//	mptcp.address.announced  mptcp.address.id, network.peer.address/port (path events only)
//	mptcp.address.removed    mptcp.address.id (path events only)
//
// Two events are log records only, no span events, so that a logs backend
// shows a connection while it lives (its span is exported when it closes):
//
//	mptcp.connection.established  once the connection is established: the span's start attributes
//	                              (network.transport, network.type, network.local.*, network.peer.*,
//	                              server.address, server.port, mptcp.role)
//	mptcp.connection.report       every report interval while the connection lives (WithReportInterval,
//	                              DefaultReportInterval: a minute): mptcp.role, mptcp.fallback
//	                              [mptcp.fallback.reason], mptcp.token, mptcp.bytes.sent,
//	                              mptcp.bytes.received, mptcp.bytes.retransmitted (Linux 6.5+),
//	                              mptcp.subflows.max, mptcp.subflows.active, and mptcp.subflows.list:
//	                              one map per established subflow with mptcp.subflow.id,
//	                              network.local.*, network.peer.*, mptcp.subflow.bytes.sent,
//	                              mptcp.subflow.bytes.received, mptcp.subflow.bytes.retransmitted,
//	                              mptcp.subflow.rtt, mptcp.subflow.timeouts (6.7+),
//	                              mptcp.subflow.spurious_retransmissions, [mptcp.subflow.backup]
//
// A report is a full reading of the connection at the first sample at or
// after each interval; only connections whose logger takes reports when
// they are established pay for it (none with the global no-op logger).
//
// # Metrics
//
//	name                        kind           unit          attributes
//	mptcp.connection.active     UpDownCounter  {connection}  mptcp.role
//	mptcp.connection.duration   Histogram      s             mptcp.role, mptcp.fallback
//	mptcp.connection.fallbacks  Counter        {connection}  mptcp.role, mptcp.fallback.reason
//	mptcp.subflow.active        UpDownCounter  {subflow}     mptcp.role
//	mptcp.subflow.opened        Counter        {subflow}     mptcp.role
//	mptcp.subflow.closed        Counter        {subflow}     mptcp.role
//	mptcp.subflow.join_failures Counter        {subflow}     mptcp.role, network.local.address
//	mptcp.io                    Counter        By            mptcp.role, network.io.direction
//	mptcp.retransmitted         Counter        By            mptcp.role
//	mptcp.subflow.io            Counter        By            mptcp.role, network.io.direction, network.local.address, mptcp.subflow.backup
//	mptcp.subflow.rtt           Histogram      s             mptcp.role, network.local.address, mptcp.subflow.backup
//	mptcp.subflow.retransmitted Counter        By            mptcp.role, network.local.address, mptcp.subflow.backup
//	mptcp.subflow.timeouts      Counter        {timeout}     mptcp.role, network.local.address, mptcp.subflow.backup
//	mptcp.subflow.spurious_retransmissions
//	                            Counter        {segment}     mptcp.role, network.local.address, mptcp.subflow.backup
//
// The counters and up-down counters are observable instruments: the values
// are accumulated as samples arrive and reported when a reader collects
// (the data are the same as a synchronous counter's: cumulative sums). The
// counters add up: mptcp.io counts every byte once, from mptcp_info's byte
// counters on Linux 6.5+, and the bytes still queued when the program
// closed the connection (mptcp.bytes.unsent) at its end;
// mptcp.subflow.closed counts the subflows still open when their
// connection closes, so opened minus closed is active.
// mptcp.connection.duration is measured from the dial's start (or the
// accept) to Close, like the span. mptcp.subflow.rtt takes one value per
// subflow per sample in which the subflow carried data (tcp_info's RTT
// only moves with data).
//
// The per-path series (by network.local.address) say which path carried
// the bytes and which one loses them: mptcp.subflow.retransmitted is what
// TCP sent again on the path (tcp_info.bytes_retrans),
// mptcp.subflow.timeouts its retransmission timeouts (tcp_info.total_rto,
// Linux 6.7+, absent before), mptcp.subflow.spurious_retransmissions the
// retransmissions the peer had no need of (D-SACK, tcp_info.dsack_dups: a
// path that reorders, not one that loses). mptcp.retransmitted counts
// something else: MPTCP's re-injections at the connection level, which the
// subflows count as new data. mptcp.subflow.backup is the backup flag the
// peer set on the subflow, as the path events report it (absent where they
// did not); a subflow whose flag changes counts on its new series from then
// on, and the series stay bounded by the host: at most three per local
// address.
//
// WithPeerAttributes adds network.peer.address and network.peer.port to
// every metric: one set of series per peer address and port, shared by the
// connections to or from it, for small deployments. A series' cumulative
// values only grow while any of its connections is open; once all are
// closed it is reported once more and then forgotten.
//
// # HTTP
//
// LinkHandler and LinkTransport link each HTTP request's span, on the
// server and on the client, to the mptcp.connection span of the connection
// that carried the request: every request of a keep-alive connection, and
// every stream of an HTTP/2 one, TLS or not, links to the same connection
// span. The request spans are otelhttp's
// (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp), or those
// of any instrumentation that puts its span in the context of the request
// it passes on: the wrappers of this package go inside otelhttp's, where
// that span is in the request's context.
//
//	srv := &http.Server{
//		ConnContext: mptcpx.ConnContext, // the connection, in every request's context
//		Handler:     otelhttp.NewHandler(mptcpxotel.LinkHandler(mux), "server"),
//	}
//
//	tr := http.DefaultTransport.(*http.Transport).Clone()
//	tr.DialContext = mptcpx.NewDialer(nil).DialContext
//	client := &http.Client{Transport: otelhttp.NewTransport(mptcpxotel.LinkTransport(tr))}
//
// A handler finds its request's connection, and its MPTCP state, with
// mptcpx.FromContext; ConnSpanContext gives the span of any connection.
package mptcpxotel
