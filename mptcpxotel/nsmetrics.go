package mptcpxotel

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/nsinfo"
)

// The MPTcpExt counters of the network namespaces (/proc/net/netstat, per
// namespace: package mibstat) that explain paths, as observable counters:
// what the kernel counted in the namespace of the process and in each
// namespace with connections mptcpx follows (each named by mptcp.netns),
// read when a metric reader collects and never by the sampler. Each
// reading of a namespace costs 0.1 to 0.2 ms of kernel time (the kernel
// prints the whole netstat file). A counter the running kernel does not
// print is not reported. node_exporter's netstat collector leaves these
// fields out by default; here each keeps its meaning in its metric and
// attributes:
//
//	metric                               attributes                               counters
//	mptcp.netns.join.attempts            network.io.direction                     MPJoinSynTx (transmit, 6.12+), MPJoinSynRx (receive)
//	mptcp.netns.join.failures            mptcp.join.failure                       rejected: MPJoinRejected (6.18+); no_token: MPJoinNoTokenFound;
//	                                                                              syn_ack_hmac, ack_hmac: MPJoinSynAckHMacFailure, MPJoinAckHMacFailure;
//	                                                                              socket, bind, connect: MPJoinSynTxCreatSkErr, ...BindErr, ...ConnectErr (6.12+);
//	                                                                              port_mismatch: MismatchPortSynRx + MismatchPortAckRx
//	mptcp.netns.add_addr                 network.io.direction                     AddAddr (receive), AddAddrTx (transmit, 6.12+)
//	mptcp.netns.add_addr.dropped         network.io.direction                     AddAddrDrop (receive), AddAddrTxDrop (transmit, 6.12+)
//	mptcp.netns.fallbacks                mptcp.netns.fallback.cause               see nsFallbackCauses
//	mptcp.netns.blackhole.detections     -                                        Blackhole (6.12+)
//
// Every one also has mptcp.netns. The number of series is bounded by the
// namespaces (the process's own and those of its followed connections,
// at most 256) times the fixed lists above.

// nsCounter is one series of a namespace metric: the counters it adds up,
// and its attribute beside mptcp.netns.
type nsCounter struct {
	inst     *metric.Int64ObservableCounter
	counters []mibstat.Counter
	attr     attribute.KeyValue // zero: none
}

// nsFallbackCauses are the values of mptcp.netns.fallback.cause, by the
// counters of the connections made or turned plain TCP in the namespace.
var nsFallbackCauses = []struct {
	cause    string
	counters []mibstat.Counter
}{
	{"syn_ack_without_mptcp", []mibstat.Counter{mibstat.MPCapableFallbackSYNACK}}, // the peer answered without MPTCP
	{"ack_without_mptcp", []mibstat.Counter{mibstat.MPCapableFallbackACK}},        // the client's third ACK had no MPTCP
	{"mp_capable_dropped", []mibstat.Counter{mibstat.MPCapableSYNTXDrop}},         // SYNs with MP_CAPABLE unanswered: sent without (6.12+)
	{"active_mptcp_off", []mibstat.Counter{mibstat.MPCapableSYNTXDisabled}},       // dialed plain TCP: a blackhole turned active MPTCP off (6.12+)
	{"token", []mibstat.Counter{mibstat.MPFallbackTokenInit}},                     // no token could be allocated
	{"dss_corruption", []mibstat.Counter{mibstat.DSSCorruptionFallback}},          // corrupted DSS mappings
	{"infinite_map", []mibstat.Counter{mibstat.InfiniteMapTx, mibstat.InfiniteMapRx}},
	{"data_without_mptcp", []mibstat.Counter{mibstat.MPCapableDataFallback}},   // 6.18+
	{"md5sig", []mibstat.Counter{mibstat.MD5SigFallback}},                      // 6.18+
	{"dss", []mibstat.Counter{mibstat.DssFallback}},                            // 6.18+
	{"simultaneous_connect", []mibstat.Counter{mibstat.SimultConnectFallback}}, // 6.18+
	{"failed", []mibstat.Counter{mibstat.FallbackFailed}},                      // 6.18+: impossible, the connection was reset
}

// nsMeters holds the instruments of the namespace metrics and the
// attribute sets of each namespace seen.
type nsMeters struct {
	joinAttempts, joinFailures, addAddr, addAddrDrops, fallbacks, blackholes metric.Int64ObservableCounter

	series []nsCounter
	mu     sync.Mutex
	byName map[string][][]metric.ObserveOption // per namespace, per series
	reg    *nsinfo.Registry
}

func newNSMeters(meter metric.Meter, reg *nsinfo.Registry) *nsMeters {
	m := &nsMeters{byName: map[string][][]metric.ObserveOption{}, reg: reg}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c := check(meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc)))
		if c == nil {
			return noopCounter
		}
		return c
	}
	m.joinAttempts = counter(metricNSJoinAttempts, "{join}",
		"MP_JOIN SYNs the namespace sent (network.io.direction=transmit: joins its connections started) and received (receive: joins their peers asked for).")
	m.joinFailures = counter(metricNSJoinFailures, "{join}",
		"Joins that failed in the namespace, by mptcp.join.failure: rejected by its path manager (its subflows limit), no connection for the token, a wrong HMAC, a socket, bind or connect error, a port no endpoint announced.")
	m.addAddr = counter(metricNSAddAddr, "{address}",
		"ADD_ADDR announcements the namespace received (network.io.direction=receive) and sent (transmit).")
	m.addAddrDrops = counter(metricNSAddAddrDrops, "{address}",
		"ADD_ADDR announcements the namespace dropped when received (receive: a userspace path manager with no daemon, or a busy in-kernel one) or could not send (transmit).")
	m.fallbacks = counter(metricNSFallbacks, "{connection}",
		"Connections of the namespace made or turned plain TCP, by mptcp.netns.fallback.cause, as the kernel counts them.")
	m.blackholes = counter(metricNSBlackholes, "{detection}",
		"Times the kernel concluded that a middlebox drops MPTCP SYNs and turned active MPTCP off in the namespace for net.mptcp.blackhole_timeout.")

	add := func(inst *metric.Int64ObservableCounter, attr attribute.KeyValue, cs ...mibstat.Counter) {
		m.series = append(m.series, nsCounter{inst: inst, counters: cs, attr: attr})
	}
	add(&m.joinAttempts, semconv.NetworkIODirectionTransmit, mibstat.MPJoinSynTx)
	add(&m.joinAttempts, semconv.NetworkIODirectionReceive, mibstat.MPJoinSynRx)
	add(&m.joinFailures, keyJoinFailure.String("rejected"), mibstat.MPJoinRejected)
	add(&m.joinFailures, keyJoinFailure.String("no_token"), mibstat.MPJoinNoTokenFound)
	add(&m.joinFailures, keyJoinFailure.String("syn_ack_hmac"), mibstat.MPJoinSynAckHMacFailure)
	add(&m.joinFailures, keyJoinFailure.String("ack_hmac"), mibstat.MPJoinAckHMacFailure)
	add(&m.joinFailures, keyJoinFailure.String("socket"), mibstat.MPJoinSynTxCreatSkErr)
	add(&m.joinFailures, keyJoinFailure.String("bind"), mibstat.MPJoinSynTxBindErr)
	add(&m.joinFailures, keyJoinFailure.String("connect"), mibstat.MPJoinSynTxConnectErr)
	add(&m.joinFailures, keyJoinFailure.String("port_mismatch"), mibstat.MismatchPortSynRx, mibstat.MismatchPortAckRx)
	add(&m.addAddr, semconv.NetworkIODirectionReceive, mibstat.AddAddr)
	add(&m.addAddr, semconv.NetworkIODirectionTransmit, mibstat.AddAddrTx)
	add(&m.addAddrDrops, semconv.NetworkIODirectionReceive, mibstat.AddAddrDrop)
	add(&m.addAddrDrops, semconv.NetworkIODirectionTransmit, mibstat.AddAddrTxDrop)
	for _, fc := range nsFallbackCauses {
		add(&m.fallbacks, keyNSFallbackCause.String(fc.cause), fc.counters...)
	}
	add(&m.blackholes, attribute.KeyValue{}, mibstat.Blackhole)

	_, err := meter.RegisterCallback(m.observe, m.joinAttempts, m.joinFailures, m.addAddr, m.addAddrDrops, m.fallbacks, m.blackholes)
	if err != nil {
		otel.Handle(err)
	}
	return m
}

// noopCounter stands in for an instrument the provider did not make.
var noopCounter metric.Int64ObservableCounter = noop.Int64ObservableCounter{}

// maxNamespaceSets bounds the namespaces whose attribute sets are kept;
// beyond, the sets of namespaces not collected at the last collection are
// forgotten.
const maxNamespaceSets = 512

// observe is the callback of the namespace metrics: one reading of the
// counters per namespace (nsinfo.Registry.Collect).
func (m *nsMeters) observe(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool)
	m.reg.Collect(func(name string, s *mibstat.Snapshot) {
		seen[name] = true
		opts := m.byName[name]
		if opts == nil {
			opts = make([][]metric.ObserveOption, len(m.series))
			for i, sr := range m.series {
				kv := []attribute.KeyValue{keyNetns.String(name)}
				if sr.attr.Key != "" {
					kv = append(kv, sr.attr)
				}
				opts[i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
			}
			m.byName[name] = opts
		}
		for i, sr := range m.series {
			var sum uint64
			present := false
			for _, c := range sr.counters {
				if v, ok := s.Get(c); ok {
					sum += v
					present = true
				}
			}
			if present {
				o.ObserveInt64(*sr.inst, clampInt64(sum), opts[i]...)
			}
		}
	})
	if len(m.byName) > maxNamespaceSets {
		for name := range m.byName {
			if !seen[name] {
				delete(m.byName, name)
			}
		}
	}
	return nil
}
