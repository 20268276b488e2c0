package mptcpxotel

import "go.opentelemetry.io/otel/attribute"

// The names of the telemetry contract. They are API: dashboards and alerts
// are built on them.

// Span and span event names.
const (
	spanName            = "mptcp.connection"
	eventSubflowAdded   = "mptcp.subflow.added"
	eventSubflowRemoved = "mptcp.subflow.removed"
	eventFallback       = "mptcp.fallback"
	eventJoinFailed     = "mptcp.subflow.join_failed"
	eventPriority       = "mptcp.subflow.priority"
	eventAddrAnnounced  = "mptcp.address.announced"
	eventAddrRemoved    = "mptcp.address.removed"
	eventPathsLimit     = "mptcp.paths.limit"
)

// Metric names.
const (
	metricConnActive    = "mptcp.connection.active"
	metricConnDuration  = "mptcp.connection.duration"
	metricConnFallbacks = "mptcp.connection.fallbacks"
	metricSubActive     = "mptcp.subflow.active"
	metricSubOpened     = "mptcp.subflow.opened"
	metricSubClosed     = "mptcp.subflow.closed"
	metricJoinFailures  = "mptcp.subflow.join_failures"
	metricIO            = "mptcp.io"
	metricRetransmitted = "mptcp.retransmitted"
	metricSubIO         = "mptcp.subflow.io"
	metricSubRTT        = "mptcp.subflow.rtt"
	metricPathsLimited  = "mptcp.connection.paths.limited"
	metricPathsClosed   = "mptcp.connection.paths.limited.closed"

	// The MPTcpExt counters of the network namespaces (nsmetrics.go).
	metricNSJoinAttempts = "mptcp.netns.join.attempts"
	metricNSJoinFailures = "mptcp.netns.join.failures"
	metricNSAddAddr      = "mptcp.netns.add_addr"
	metricNSAddAddrDrops = "mptcp.netns.add_addr.dropped"
	metricNSFallbacks    = "mptcp.netns.fallbacks"
	metricNSBlackholes   = "mptcp.netns.blackhole.detections"
)

// Attribute keys of this package. The network.*, server.* and error.type
// keys come from the OpenTelemetry semantic conventions (package semconv).
const (
	keyRole           = attribute.Key("mptcp.role")
	keyToken          = attribute.Key("mptcp.token")
	keyFallback       = attribute.Key("mptcp.fallback")
	keyFallbackReason = attribute.Key("mptcp.fallback.reason")
	keySubflowsMax    = attribute.Key("mptcp.subflows.max")
	keyBytesSent      = attribute.Key("mptcp.bytes.sent")
	keyBytesReceived  = attribute.Key("mptcp.bytes.received")
	keyBytesRetrans   = attribute.Key("mptcp.bytes.retransmitted")
	keyBytesUnsent    = attribute.Key("mptcp.bytes.unsent")
	keyBytesDiscarded = attribute.Key("mptcp.bytes.discarded")
	keyCloseReason    = attribute.Key("mptcp.close.reason")
	keySubflowID      = attribute.Key("mptcp.subflow.id")
	keySubflowSent    = attribute.Key("mptcp.subflow.bytes.sent")
	keySubflowRecv    = attribute.Key("mptcp.subflow.bytes.received")
	keySubflowRTT     = attribute.Key("mptcp.subflow.rtt")
	keySubflowState   = attribute.Key("mptcp.subflow.state")
	keySynRetransmits = attribute.Key("mptcp.subflow.syn_retransmits")
	keySubflowBackup  = attribute.Key("mptcp.subflow.backup")
	keyResetReason    = attribute.Key("mptcp.subflow.reset.reason")
	keyResetFlags     = attribute.Key("mptcp.subflow.reset.flags")
	keyAddressID      = attribute.Key("mptcp.address.id")
	keyEventsDropped  = attribute.Key("mptcp.events.dropped")

	// The diagnosis of a connection's paths.
	keyPathsLimit      = attribute.Key("mptcp.paths.limit")
	keyPathsSubflows   = attribute.Key("mptcp.paths.subflows")
	keySubflowsLimit   = attribute.Key("mptcp.paths.subflows.limit")
	keyPathsEndpoints  = attribute.Key("mptcp.paths.endpoints")
	keyPathsAnnounced  = attribute.Key("mptcp.paths.announced")
	keyAddAddrLimit    = attribute.Key("mptcp.paths.add_addr_accepted.limit")
	keyPathManager     = attribute.Key("mptcp.path_manager")
	keyPathsUnknown    = attribute.Key("mptcp.paths.unknown")
	keyNetns           = attribute.Key("mptcp.netns")
	keyJoinFailure     = attribute.Key("mptcp.join.failure")
	keyNSFallbackCause = attribute.Key("mptcp.netns.fallback.cause")
)

// Per-path health (pathhealth.go) and the events of a connection's life in
// the logs (report.go): log records only, no span events.
const (
	metricSubRetrans  = "mptcp.subflow.retransmitted"
	metricSubTimeouts = "mptcp.subflow.timeouts"
	metricSubSpurious = "mptcp.subflow.spurious_retransmissions"

	eventEstablished = "mptcp.connection.established"
	eventReport      = "mptcp.connection.report"

	keySubflowRetrans  = attribute.Key("mptcp.subflow.bytes.retransmitted")
	keySubflowTimeouts = attribute.Key("mptcp.subflow.timeouts")
	keySubflowSpurious = attribute.Key("mptcp.subflow.spurious_retransmissions")
	keySubflowsActive  = attribute.Key("mptcp.subflows.active")
	keySubflowsList    = attribute.Key("mptcp.subflows.list")
)

// maxEvents is the most span events one connection span holds. Later
// events are counted in mptcp.events.dropped instead.
const maxEvents = 128
