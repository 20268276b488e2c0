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
// other change, whether it installs the SDK before or after its first
// connection. Like other instrumentation that records through the global
// providers, it follows the first SDK a program installs: the instrumentation
// is made once per configuration, at its first use, and OpenTelemetry's
// global providers hand what was made before to the first SDK installed
// only (a program that replaces its SDK later gives mptcpx the new providers
// with WithTracerProvider and the like). The options of this package choose other providers and turn
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
// while the connection lives, set again at each change (see Paths):
//
//	mptcp.paths.limit        what keeps the connection from having more subflows: fallback, join_rejected,
//	                         join_failed, userspace_pm, subflows_max, add_addr_max or no_endpoint; absent when
//	                         nothing ever did, "none" once a limit went away (a span attribute can be
//	                         overwritten, not removed)
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
//	mptcp.fallback           mptcp.fallback.reason: not_negotiated, mid_connection, mptcp_unavailable or blackhole
//	mptcp.subflow.join_failed  mptcp.subflow.id, mptcp.subflow.state, mptcp.subflow.syn_retransmits,
//	                         network.local.*, network.peer.*: a join never established
//	mptcp.subflow.priority   mptcp.subflow.id, mptcp.subflow.backup (path events only)
//	mptcp.address.announced  mptcp.address.id, network.peer.address/port (path events only)
//	mptcp.address.removed    mptcp.address.id (path events only)
//	mptcp.paths.limit        mptcp.paths.limit at each change of the diagnosis (see Paths), with what was read:
//	                         mptcp.paths.subflows (subflows established), mptcp.paths.subflows.limit
//	                         (this side's mptcpi_subflows_max), mptcp.paths.endpoints (endpoints that could
//	                         open a path), mptcp.paths.announced and mptcp.paths.add_addr_accepted.limit
//	                         (addresses the peer announced that no subflow uses, and the limit),
//	                         mptcp.path_manager, mptcp.paths.unknown (what could not be read:
//	                         namespace, endpoints, path_manager, path_events, mptcp_info), and
//	                         for a failed or refused join network.local.address, network.peer.address,
//	                         error.type (ETIMEDOUT, ECONNREFUSED, ..., or timeout),
//	                         mptcp.subflow.reset.reason, mptcp.subflow.state, mptcp.subflow.syn_retransmits;
//	                         for a fallback mptcp.fallback.reason. Its log record's body says it in words.
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
//	mptcp.connection.paths.limited         UpDownCounter  {connection}  mptcp.role, mptcp.paths.limit
//	mptcp.connection.paths.limited.closed  Counter        {connection}  mptcp.role, mptcp.paths.limit
//
// mptcp.connection.paths.limited counts the connections open now by what
// limits their paths (connections nothing limits are not counted);
// mptcp.connection.paths.limited.closed the connections closed, by their
// last diagnosis: for the short connections a scrape never sees open.
//
// The MPTcpExt counters of network namespaces (/proc/net/netstat, per
// namespace), read when a reader collects, for the process's own namespace
// and each namespace with followed connections, named by mptcp.netns (its
// `ip netns` name, or "net:[INODE]" as /proc/PID/ns/net links show it):
//
//	name                              kind     unit          attributes beside mptcp.netns
//	mptcp.netns.join.attempts         Counter  {join}        network.io.direction: transmit (MPJoinSynTx), receive (MPJoinSynRx)
//	mptcp.netns.join.failures         Counter  {join}        mptcp.join.failure: rejected (MPJoinRejected), no_token, syn_ack_hmac,
//	                                                         ack_hmac, socket, bind, connect (MPJoinSynTx*Err), port_mismatch
//	mptcp.netns.add_addr              Counter  {address}     network.io.direction: receive (AddAddr), transmit (AddAddrTx)
//	mptcp.netns.add_addr.dropped      Counter  {address}     network.io.direction: receive (AddAddrDrop), transmit (AddAddrTxDrop)
//	mptcp.netns.fallbacks             Counter  {connection}  mptcp.netns.fallback.cause: syn_ack_without_mptcp, ack_without_mptcp,
//	                                                         mp_capable_dropped, active_mptcp_off, token, dss_corruption,
//	                                                         infinite_map, data_without_mptcp, md5sig, dss,
//	                                                         simultaneous_connect, failed
//	mptcp.netns.blackhole.detections  Counter  {detection}   (Blackhole)
//
// A counter the running kernel does not print is not reported (6.1 has no
// MPJoinSynTx, no Blackhole; 6.12 no MPJoinRejected). They count every
// MPTCP socket of the namespace, this process's or not.
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
// # Paths
//
// mptcpx diagnoses each connection's paths on each side (conntrace.PathsDiagnosis,
// mptcpx.Conn.PathsDiagnosis): when it has fewer subflows than its host
// could give it, mptcp.paths.limit says what stopped it, in this order of
// precedence (the first that holds):
//
//	fallback       the connection is not MPTCP (mptcp.fallback.reason says why)
//	join_rejected  the peer refused a join of this side (Linux refuses beyond its subflows limit)
//	join_failed    a join did not complete (no answer, a TCP reset, another reset reason)
//	userspace_pm   a userspace path manager decides for the namespace, and opened no subflow
//	subflows_max   this side's subflows limit is 0, or reached while an endpoint or an announced address is unused
//	add_addr_max   the peer announced addresses that this side's add_addr_accepted limit ignored
//	no_endpoint    this side has no endpoint that could open a path (client: subflow; server: signal)
//
// Each side explains its own part: for a server whose subflows limit is 0,
// the server's span says subflows_max and its client's join_rejected. The
// event is a span event too, as every event here: the span attribute says
// what limits the connection now, the event when that changed and why, with
// the detail of that moment, which span attributes could not keep (they can
// be overwritten, not removed).
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
