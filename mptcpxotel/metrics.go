package mptcpxotel

import (
	"context"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/nsinfo"
)

// How the metrics are recorded.
//
// The counters and up-down counters are accumulated here, in atomic
// integers kept per attribute set, and reported by one callback of
// observable instruments when a reader collects. A sample costs a few
// atomic additions. The alternative, synchronous instruments called with
// precomputed attribute sets, costs 200 to 300 ns per call in the SDK
// (attribute de-duplication and a map lookup per measurement): the metric
// updates of a sample with traffic took 1.6 µs that way, against 0.26 µs
// for the whole Sampled hook (BenchmarkRecord), and a bare
// getsockopt(MPTCP_FULL_INFO) takes about 1.3 µs. The exported data are the
// same: an observable counter is a monotonic cumulative sum like a counter,
// an observable up-down counter a non-monotonic one.
//
// The two histograms stay synchronous, since OpenTelemetry has no
// observable histogram: mptcp.subflow.rtt is recorded once per subflow per
// sample (skipped when the instrument is disabled, as it is with the
// default no-op provider), mptcp.connection.duration once per connection.

// background is the context of every measurement. Measurements are not
// made in a request's context, and none of them takes exemplars.
var background = context.Background()

// meters holds the instruments of one instrumentation, created once, and the
// accumulated values they report.
type meters struct {
	connActive metric.Int64ObservableUpDownCounter
	fallbacks  metric.Int64ObservableCounter
	subActive  metric.Int64ObservableUpDownCounter
	subOpened  metric.Int64ObservableCounter
	subClosed  metric.Int64ObservableCounter
	joinFails  metric.Int64ObservableCounter
	io         metric.Int64ObservableCounter
	retrans    metric.Int64ObservableCounter
	subIO      metric.Int64ObservableCounter
	duration   metric.Float64Histogram
	rtt        metric.Float64Histogram
	health     healthMeters // per-path health (pathhealth.go)
	limited    metric.Int64ObservableUpDownCounter
	limClosed  metric.Int64ObservableCounter

	ns *nsMeters // the namespaces' counters

	peer   bool       // one series per peer (WithPeerAttributes)
	shared [2]*series // by conntrace.Role, without WithPeerAttributes

	// With WithPeerAttributes: one series per attribute set, shared by the
	// connections to or from the same peer address and port, so that its
	// cumulative values only grow. A series whose connections have all
	// closed is idle: it is reported once more, with its final values, and
	// then forgotten (a later connection to the same peer starts it anew,
	// which a backend reads as a counter reset, as it should). Idle series
	// are forgotten at once when no reader collects, and never more than
	// maxIdleSeries wait for a collection.
	mu     sync.Mutex // guards byPeer, idle and every series.conns
	byPeer map[peerKey]*series
	idle   []*series // idle series in the order they became idle; some since reused
}

// peerKey identifies the attribute set of a series with WithPeerAttributes.
type peerKey struct {
	role conntrace.Role
	peer netip.AddrPort
}

// maxIdleSeries bounds the idle series kept until the next collection.
const maxIdleSeries = 1024

// Histogram bucket boundaries, in seconds.
var (
	durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600}
	rttBounds      = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
)

func newMeters(mp metric.MeterProvider, peer bool) *meters {
	m := &meters{peer: peer}
	meter := mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
	m.connActive = check(meter.Int64ObservableUpDownCounter(metricConnActive, metric.WithUnit("{connection}"),
		metric.WithDescription("MPTCP connections open now.")))
	m.fallbacks = check(meter.Int64ObservableCounter(metricConnFallbacks, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections that are plain TCP, by mptcp.fallback.reason: MPTCP not available on this host, not negotiated at the handshake, made plain TCP by the kernel's blackhole detection, or fallen back later.")))
	m.subActive = check(meter.Int64ObservableUpDownCounter(metricSubActive, metric.WithUnit("{subflow}"),
		metric.WithDescription("MPTCP subflows open now.")))
	m.subOpened = check(meter.Int64ObservableCounter(metricSubOpened, metric.WithUnit("{subflow}"),
		metric.WithDescription("MPTCP subflows seen, the initial one of each connection included.")))
	m.subClosed = check(meter.Int64ObservableCounter(metricSubClosed, metric.WithUnit("{subflow}"),
		metric.WithDescription("MPTCP subflows gone, those still open when their connection closed included.")))
	m.joinFails = check(meter.Int64ObservableCounter(metricJoinFailures, metric.WithUnit("{subflow}"),
		metric.WithDescription("MPTCP subflows the kernel tried to open (MP_JOIN) that were never established, by local address.")))
	m.io = check(meter.Int64ObservableCounter(metricIO, metric.WithUnit("By"),
		metric.WithDescription("Bytes sent and received at the MPTCP level (the application's bytes).")))
	m.retrans = check(meter.Int64ObservableCounter(metricRetransmitted, metric.WithUnit("By"),
		metric.WithDescription("Bytes retransmitted at the MPTCP level.")))
	m.subIO = check(meter.Int64ObservableCounter(metricSubIO, metric.WithUnit("By"),
		metric.WithDescription("Bytes each subflow sent and received, by local address: which path carried the traffic.")))
	m.duration = check(meter.Float64Histogram(metricConnDuration, metric.WithUnit("s"),
		metric.WithDescription("How long connections lived, from dial start or accept to Close."),
		metric.WithExplicitBucketBoundaries(durationBounds...)))
	m.rtt = check(meter.Float64Histogram(metricSubRTT, metric.WithUnit("s"),
		metric.WithDescription("Smoothed round-trip time of each subflow (tcp_info.rtt), one value per subflow per sample in which it carried data."),
		metric.WithExplicitBucketBoundaries(rttBounds...)))
	m.health = newHealthMeters(meter)

	m.limited = check(meter.Int64ObservableUpDownCounter(metricPathsLimited, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections open now that have fewer subflows than their host could give them, by mptcp.paths.limit: what limits them.")))
	m.limClosed = check(meter.Int64ObservableCounter(metricPathsClosed, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections closed while something limited their subflows, by mptcp.paths.limit as last diagnosed.")))

	m.orNoop()

	if !peer {
		m.shared[conntrace.RoleClient] = newSeries(conntrace.RoleClient)
		m.shared[conntrace.RoleServer] = newSeries(conntrace.RoleServer)
	} else {
		m.byPeer = make(map[peerKey]*series)
	}
	_, err := meter.RegisterCallback(m.observe, append([]metric.Observable{
		m.connActive, m.fallbacks, m.subActive, m.subOpened, m.subClosed, m.joinFails, m.io, m.retrans, m.subIO, m.limited, m.limClosed},
		m.health.instruments()...)...)
	if err != nil {
		otel.Handle(err)
	}
	m.ns = newNSMeters(meter, nsinfo.Default)
	return m
}

// check sends an instrument-creation error to otel.Handle. The API asks
// providers to return a working instrument even then; orNoop covers those
// that return nil.
func check[I any](inst I, err error) I {
	if err != nil {
		otel.Handle(err)
	}
	return inst
}

// orNoop replaces missing instruments with no-op ones.
func (m *meters) orNoop() {
	if m.connActive == nil {
		m.connActive = noop.Int64ObservableUpDownCounter{}
	}
	if m.subActive == nil {
		m.subActive = noop.Int64ObservableUpDownCounter{}
	}
	if m.limited == nil {
		m.limited = noop.Int64ObservableUpDownCounter{}
	}
	for _, c := range []*metric.Int64ObservableCounter{&m.fallbacks, &m.subOpened, &m.subClosed, &m.joinFails, &m.io, &m.retrans, &m.subIO, &m.limClosed} {
		if *c == nil {
			*c = noop.Int64ObservableCounter{}
		}
	}
	for _, h := range []*metric.Float64Histogram{&m.duration, &m.rtt} {
		if *h == nil {
			*h = noop.Float64Histogram{}
		}
	}
}

// series returns the series a new connection reports to: the role's shared
// one, or, with WithPeerAttributes, the one of its peer. A connection gives
// it back with release when it closes.
func (m *meters) series(role conntrace.Role, peer netip.AddrPort) *series {
	if !m.peer {
		s := m.shared[role]
		s.used.Store(true)
		return s
	}
	key := peerKey{role, peer}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byPeer[key]
	if s == nil {
		s = newSeries(role, appendPeer(nil, peer)...)
		s.key = key
		s.used.Store(true)
		m.byPeer[key] = s
	}
	s.conns++
	return s
}

// release gives back the series of a connection that closed.
func (m *meters) release(s *series) {
	if !m.peer {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.conns--; s.conns > 0 {
		return
	}
	if !m.duration.Enabled(background) {
		// No reader collects: nobody will ever see the final values.
		m.forget(s)
		return
	}
	m.idle = append(m.idle, s)
	for len(m.idle) > maxIdleSeries {
		old := m.idle[0]
		m.idle[0] = nil
		m.idle = m.idle[1:]
		if old.conns == 0 {
			m.forget(old)
		}
	}
}

// forget drops an idle series. m.mu is held.
func (m *meters) forget(s *series) {
	if m.byPeer[s.key] == s {
		delete(m.byPeer, s.key)
	}
}

// observe is the callback of the observable instruments.
func (m *meters) observe(_ context.Context, o metric.Observer) error {
	for _, s := range m.shared {
		if s != nil && s.used.Load() {
			s.observe(m, o)
		}
	}
	if m.peer {
		m.mu.Lock()
		for _, s := range m.byPeer {
			s.observe(m, o)
			if s.conns == 0 {
				// Its final values went out with this collection.
				m.forget(s)
			}
		}
		clear(m.idle)
		m.idle = m.idle[:0]
		m.mu.Unlock()
	}
	return nil
}

// series accumulates the values of one attribute set (mptcp.role, plus the
// peer's address with WithPeerAttributes) and of its subflows' local
// addresses. The options that carry the attribute sets are built once.
type series struct {
	used  atomic.Bool // observed only once a connection used it
	key   peerKey     // with WithPeerAttributes
	conns int         // with WithPeerAttributes: connections using it (meters.mu)

	connActive, subActive, subOpened, subClosed atomic.Int64
	sent, received, retrans                     atomic.Uint64
	// fallbacks by conntrace.FallbackReason; index 0 (none) unused.
	fallbacks   [numFallbackReasons]atomic.Int64
	fallbackOpt [numFallbackReasons][]metric.ObserveOption
	// Connections open and closed by conntrace.PathsLimit; index 0
	// (none) unused.
	limited, limitedClosed [numPathsLimits]atomic.Int64
	limitOpt               [numPathsLimits][]metric.ObserveOption

	base         []attribute.KeyValue // mptcp.role [, network.peer.*]
	roleOpt      []metric.ObserveOption
	txOpt, rxOpt []metric.ObserveOption
	durationOpt  [2][]metric.RecordOption // by mptcp.fallback: false, true
	mu           sync.Mutex               // guards addrs
	addrs        []*addrSeries
}

// addrSeries accumulates the bytes and the loss counters of the subflows of
// one local address and backup flag (a path), and the failed joins of the
// address.
type addrSeries struct {
	addr           netip.Addr
	backup         backupState
	sent, received atomic.Uint64
	joinFails      atomic.Int64
	health         pathHealth
	txOpt, rxOpt   []metric.ObserveOption
	addrOpt        []metric.ObserveOption
	rttOpt         []metric.RecordOption
}

func newSeries(role conntrace.Role, extra ...attribute.KeyValue) *series {
	base := append([]attribute.KeyValue{keyRole.String(role.String())}, extra...)
	s := &series{base: base}
	s.roleOpt = observeOpt(base)
	s.txOpt = observeOpt(base, semconv.NetworkIODirectionTransmit)
	s.rxOpt = observeOpt(base, semconv.NetworkIODirectionReceive)
	s.durationOpt[0] = recordOpt(base, keyFallback.Bool(false))
	s.durationOpt[1] = recordOpt(base, keyFallback.Bool(true))
	for r := conntrace.FallbackReason(1); r < numFallbackReasons; r++ {
		s.fallbackOpt[r] = observeOpt(base, keyFallbackReason.String(r.String()))
	}
	for l := conntrace.PathsLimit(1); l < numPathsLimits; l++ {
		s.limitOpt[l] = observeOpt(base, keyPathsLimit.String(l.String()))
	}
	return s
}

// numPathsLimits bounds the values of conntrace.PathsLimit, none included:
// the metrics by mptcp.paths.limit have one series per value and role,
// all reported from the start.
const numPathsLimits = conntrace.PathsLimitNoEndpoint + 1

// numFallbackReasons bounds the values of conntrace.FallbackReason, none
// included: mptcp.connection.fallbacks has one series per reason and role,
// all of them reported from the start (at 0), so that a backend's rate of
// the first fallback is not lost.
const numFallbackReasons = conntrace.FallbackBlackhole + 1

// addr returns the series of local address a whose backup flag is
// unknown, made on first use.
func (s *series) addr(a netip.Addr) *addrSeries { return s.path(a, backupUnknown) }

// path returns the series of local address a and backup flag b, made on
// first use.
func (s *series) path(a netip.Addr, b backupState) *addrSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, as := range s.addrs {
		if as.addr == a && as.backup == b {
			return as
		}
	}
	var local []attribute.KeyValue
	if a.IsValid() {
		local = append(local, semconv.NetworkLocalAddress(a.String()))
	}
	local = b.attrs(local)
	as := &addrSeries{
		addr:    a,
		backup:  b,
		txOpt:   observeOpt(s.base, append(local, semconv.NetworkIODirectionTransmit)...),
		rxOpt:   observeOpt(s.base, append(local, semconv.NetworkIODirectionReceive)...),
		addrOpt: observeOpt(s.base, local...),
		rttOpt:  recordOpt(s.base, local...),
	}
	s.addrs = append(s.addrs, as)
	return as
}

func (s *series) observe(m *meters, o metric.Observer) {
	o.ObserveInt64(m.connActive, s.connActive.Load(), s.roleOpt...)
	for r := conntrace.FallbackReason(1); r < numFallbackReasons; r++ {
		o.ObserveInt64(m.fallbacks, s.fallbacks[r].Load(), s.fallbackOpt[r]...)
	}
	for l := conntrace.PathsLimit(1); l < numPathsLimits; l++ {
		o.ObserveInt64(m.limited, s.limited[l].Load(), s.limitOpt[l]...)
		o.ObserveInt64(m.limClosed, s.limitedClosed[l].Load(), s.limitOpt[l]...)
	}
	o.ObserveInt64(m.subActive, s.subActive.Load(), s.roleOpt...)
	o.ObserveInt64(m.subOpened, s.subOpened.Load(), s.roleOpt...)
	o.ObserveInt64(m.subClosed, s.subClosed.Load(), s.roleOpt...)
	o.ObserveInt64(m.io, clampInt64(s.sent.Load()), s.txOpt...)
	o.ObserveInt64(m.io, clampInt64(s.received.Load()), s.rxOpt...)
	o.ObserveInt64(m.retrans, clampInt64(s.retrans.Load()), s.roleOpt...)
	s.mu.Lock()
	for _, as := range s.addrs {
		o.ObserveInt64(m.subIO, clampInt64(as.sent.Load()), as.txOpt...)
		o.ObserveInt64(m.subIO, clampInt64(as.received.Load()), as.rxOpt...)
		if n := as.joinFails.Load(); n > 0 {
			o.ObserveInt64(m.joinFails, n, as.addrOpt...)
		}
		as.health.observe(&m.health, o, as.addrOpt)
	}
	s.mu.Unlock()
}

// clampInt64 converts a byte count to the int64 of an observation, which
// can never turn negative: beyond 2^63-1 it saturates.
func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}

// attrSet returns the set of base and more, leaving both slices as they were.
func attrSet(base []attribute.KeyValue, more ...attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(slices.Clip(slices.Clone(base)), more...)...)
}

func observeOpt(base []attribute.KeyValue, more ...attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(attrSet(base, more...))}
}

func recordOpt(base []attribute.KeyValue, more ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attrSet(base, more...))}
}
