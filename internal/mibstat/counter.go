package mibstat

// Counter is one of the MPTcpExt counters that tell why a connection has
// the paths it has. Snapshot.Get reads it; every other counter the kernel
// prints is still available by name (Snapshot.Lookup, Snapshot.All).
//
// The constants are named as the kernel prints them (net/mptcp/mib.c). The
// list grows with kernels: a counter the running kernel does not print is
// absent (Get reports false), never 0. What each counts is said from the
// side that counts it: "Tx" and "SYNTX" counters move on the side that
// sends, "Rx" ones on the side that receives. Every counter is per network
// namespace and, except MPCurrEstab, only grows (an unsigned long: 64 bits
// on 64-bit kernels).
type Counter uint8

// The counters, in the kernel's order.
const (
	// MPCapableSYNRX: SYNs with MP_CAPABLE received (passive side).
	MPCapableSYNRX Counter = iota
	// MPCapableSYNTX: SYNs with MP_CAPABLE sent (active side).
	MPCapableSYNTX
	// MPCapableSYNACKRX: SYN-ACKs with MP_CAPABLE received (active side).
	MPCapableSYNACKRX
	// MPCapableACKRX: third ACKs with MP_CAPABLE received (passive side).
	MPCapableACKRX
	// MPCapableFallbackACK: the passive side fell back to TCP during the
	// handshake (the third ACK carried no MP_CAPABLE).
	MPCapableFallbackACK
	// MPCapableFallbackSYNACK: the active side fell back to TCP during
	// the handshake (the SYN-ACK carried no MP_CAPABLE: the peer or a
	// middlebox does not do MPTCP).
	MPCapableFallbackSYNACK
	// MPCapableSYNTXDrop: an MP_CAPABLE SYN went unanswered for
	// net.mptcp.syn_retrans_before_tcp_fallback retransmissions and the
	// attempt went on without MP_CAPABLE (the blackhole detection).
	MPCapableSYNTXDrop
	// MPCapableSYNTXDisabled: a connection was made without MP_CAPABLE
	// because active MPTCP is off in the namespace after a blackhole was
	// detected (see Blackhole).
	MPCapableSYNTXDisabled
	// MPCapableEndpAttempt: an MP_CAPABLE SYN arrived for the port of a
	// port-based signal endpoint, which accepts joins only, and was
	// refused.
	MPCapableEndpAttempt
	// MPFallbackTokenInit: a connection fell back to TCP because no token
	// could be allocated for it.
	MPFallbackTokenInit
	// MPJoinNoTokenFound: an MP_JOIN SYN named a connection (token) that
	// does not exist here.
	MPJoinNoTokenFound
	// MPJoinSynRx: SYNs with MP_JOIN received (passive side of a join).
	MPJoinSynRx
	// MPJoinSynBackupRx: of those, SYNs with the backup flag.
	MPJoinSynBackupRx
	// MPJoinSynAckRx: SYN-ACKs with MP_JOIN received (active side).
	MPJoinSynAckRx
	// MPJoinSynAckBackupRx: of those, SYN-ACKs with the backup flag.
	MPJoinSynAckBackupRx
	// MPJoinSynAckHMacFailure: the HMAC of an MP_JOIN SYN-ACK was wrong;
	// the subflow was reset.
	MPJoinSynAckHMacFailure
	// MPJoinAckRx: third ACKs with MP_JOIN received (passive side).
	MPJoinAckRx
	// MPJoinAckHMacFailure: the HMAC of an MP_JOIN third ACK was wrong;
	// the subflow was reset.
	MPJoinAckHMacFailure
	// MPJoinRejected: the path manager refused a join the peer asked for
	// (for the in-kernel one: the subflows limit reached). The kernel
	// answers the MP_JOIN SYN, then refuses at the third ACK (before
	// counting MPJoinAckRx) and resets the subflow with MP_TCPRST
	// "administratively prohibited"; the joining side counts
	// MPJoinSynAckRx and MPRstTx. Not on 6.1 nor 6.12, where such a
	// refusal shows on the refusing side only as an MPJoinSynRx without
	// its MPJoinAckRx (TestJoinRejected).
	MPJoinRejected
	// MPJoinSynTx: SYNs with MP_JOIN sent (active side of a join).
	MPJoinSynTx
	// MPJoinSynTxCreatSkErr: a join could not start: no socket for the
	// subflow.
	MPJoinSynTxCreatSkErr
	// MPJoinSynTxBindErr: a join could not start: binding the local
	// address failed.
	MPJoinSynTxBindErr
	// MPJoinSynTxConnectErr: a join could not start: connect failed (no
	// route, for instance).
	MPJoinSynTxConnectErr
	// MPJoinPortSynRx: MP_JOIN SYNs received on the port of a port-based
	// endpoint.
	MPJoinPortSynRx
	// MPJoinPortSynAckRx: MP_JOIN SYN-ACKs received from another port
	// than the connection's.
	MPJoinPortSynAckRx
	// MPJoinPortAckRx: MP_JOIN third ACKs received on the port of a
	// port-based endpoint.
	MPJoinPortAckRx
	// MismatchPortSynRx: MP_JOIN SYNs received on a port no endpoint of
	// the connection announced; refused.
	MismatchPortSynRx
	// MismatchPortAckRx: MP_JOIN third ACKs with such a port; refused.
	MismatchPortAckRx
	// DSSCorruptionFallback: corrupted DSS mappings made a connection
	// fall back to TCP.
	DSSCorruptionFallback
	// DSSCorruptionReset: corrupted DSS mappings made the kernel reset a
	// joined subflow.
	DSSCorruptionReset
	// InfiniteMapTx: infinite mappings sent (the connection falls back
	// to TCP on its one remaining subflow).
	InfiniteMapTx
	// InfiniteMapRx: infinite mappings received (likewise, decided by
	// the peer).
	InfiniteMapRx
	// AddAddr: ADD_ADDR received (the peer announced an address).
	AddAddr
	// AddAddrTx: ADD_ADDR sent (this side announced an address).
	AddAddrTx
	// AddAddrTxDrop: an ADD_ADDR could not be sent (no room in the
	// options of the packets, or no memory).
	AddAddrTxDrop
	// EchoAdd: ADD_ADDR echoes received (the peer acknowledged an
	// announcement of this side).
	EchoAdd
	// EchoAddTx: ADD_ADDR echoes sent (this side acknowledged an
	// announcement, whether or not it uses the address).
	EchoAddTx
	// EchoAddTxDrop: an ADD_ADDR echo could not be sent.
	EchoAddTxDrop
	// PortAdd: ADD_ADDR with a port received.
	PortAdd
	// AddAddrDrop: an ADD_ADDR received was dropped without an echo: the
	// userspace path manager is configured and no socket on the machine
	// has joined mptcp_pm_events (TestAddAddrDroppedUserspacePM: the
	// kernel's test is machine-wide), or the in-kernel path manager was
	// still busy with the previous one. An announcement beyond the
	// add_addr_accepted limit is not a drop: it is echoed (EchoAddTx) and
	// ignored, and shows only as an AddAddr without a join
	// (TestAddAddrNotAccepted).
	AddAddrDrop
	// RmAddr: RM_ADDR received (the peer withdrew an address).
	RmAddr
	// RmAddrDrop: an RM_ADDR received was dropped (the path manager was
	// busy).
	RmAddrDrop
	// RmAddrTx: RM_ADDR sent.
	RmAddrTx
	// RmAddrTxDrop: an RM_ADDR could not be sent.
	RmAddrTxDrop
	// RmSubflow: subflows removed by the path manager (an address
	// withdrawn, an endpoint deleted).
	RmSubflow
	// MPPrioTx: MP_PRIO sent (this side changed a subflow's backup flag).
	MPPrioTx
	// MPPrioRx: MP_PRIO received.
	MPPrioRx
	// MPFailTx: MP_FAIL sent (a data checksum failed).
	MPFailTx
	// MPFailRx: MP_FAIL received.
	MPFailRx
	// MPFastcloseTx: MP_FASTCLOSE sent (a connection aborted).
	MPFastcloseTx
	// MPFastcloseRx: MP_FASTCLOSE received.
	MPFastcloseRx
	// MPRstTx: MP_TCPRST sent (a subflow reset with a reason).
	MPRstTx
	// MPRstRx: MP_TCPRST received.
	MPRstRx
	// SubflowStale: subflows marked stale (no progress for
	// net.mptcp.stale_loss_cnt retransmission timeouts; not used while
	// others work).
	SubflowStale
	// SubflowRecover: stale subflows that worked again.
	SubflowRecover
	// MPCurrEstab: MPTCP sockets in the established state now, those that
	// fell back to TCP included (measured: a client socket whose
	// MP_CAPABLE SYN was lost counts, TestBlackhole; a server socket
	// accepted from a plain SYN is a TCP socket and does not). A gauge,
	// not a counter: it goes down as connections close.
	MPCurrEstab
	// Blackhole: times the kernel concluded that MP_CAPABLE SYNs are
	// dropped on the way while plain SYNs pass (a connection attempt that
	// dropped MP_CAPABLE, MPCapableSYNTXDrop, then succeeded), and turned
	// active MPTCP off in the namespace for net.mptcp.blackhole_timeout,
	// doubled at each further detection.
	Blackhole
	// MPCapableDataFallback: fallbacks to TCP because the first packet
	// after the handshake carried neither a DSS mapping nor MP_CAPABLE
	// with data.
	MPCapableDataFallback
	// MD5SigFallback: fallbacks to TCP because the socket uses TCP MD5
	// signatures (no option space left for MPTCP).
	MD5SigFallback
	// DssFallback: fallbacks to TCP caused by a missing or invalid DSS
	// option.
	DssFallback
	// SimultConnectFallback: fallbacks to TCP caused by a simultaneous
	// connect.
	SimultConnectFallback
	// FallbackFailed: a fallback to TCP was needed but impossible (data
	// already spread over several subflows); the connection was reset.
	FallbackFailed

	numCounters
)

// counterNames are the names the kernel prints, by Counter.
var counterNames = [numCounters]string{
	MPCapableSYNRX:          "MPCapableSYNRX",
	MPCapableSYNTX:          "MPCapableSYNTX",
	MPCapableSYNACKRX:       "MPCapableSYNACKRX",
	MPCapableACKRX:          "MPCapableACKRX",
	MPCapableFallbackACK:    "MPCapableFallbackACK",
	MPCapableFallbackSYNACK: "MPCapableFallbackSYNACK",
	MPCapableSYNTXDrop:      "MPCapableSYNTXDrop",
	MPCapableSYNTXDisabled:  "MPCapableSYNTXDisabled",
	MPCapableEndpAttempt:    "MPCapableEndpAttempt",
	MPFallbackTokenInit:     "MPFallbackTokenInit",
	MPJoinNoTokenFound:      "MPJoinNoTokenFound",
	MPJoinSynRx:             "MPJoinSynRx",
	MPJoinSynBackupRx:       "MPJoinSynBackupRx",
	MPJoinSynAckRx:          "MPJoinSynAckRx",
	MPJoinSynAckBackupRx:    "MPJoinSynAckBackupRx",
	MPJoinSynAckHMacFailure: "MPJoinSynAckHMacFailure",
	MPJoinAckRx:             "MPJoinAckRx",
	MPJoinAckHMacFailure:    "MPJoinAckHMacFailure",
	MPJoinRejected:          "MPJoinRejected",
	MPJoinSynTx:             "MPJoinSynTx",
	MPJoinSynTxCreatSkErr:   "MPJoinSynTxCreatSkErr",
	MPJoinSynTxBindErr:      "MPJoinSynTxBindErr",
	MPJoinSynTxConnectErr:   "MPJoinSynTxConnectErr",
	MPJoinPortSynRx:         "MPJoinPortSynRx",
	MPJoinPortSynAckRx:      "MPJoinPortSynAckRx",
	MPJoinPortAckRx:         "MPJoinPortAckRx",
	MismatchPortSynRx:       "MismatchPortSynRx",
	MismatchPortAckRx:       "MismatchPortAckRx",
	DSSCorruptionFallback:   "DSSCorruptionFallback",
	DSSCorruptionReset:      "DSSCorruptionReset",
	InfiniteMapTx:           "InfiniteMapTx",
	InfiniteMapRx:           "InfiniteMapRx",
	AddAddr:                 "AddAddr",
	AddAddrTx:               "AddAddrTx",
	AddAddrTxDrop:           "AddAddrTxDrop",
	EchoAdd:                 "EchoAdd",
	EchoAddTx:               "EchoAddTx",
	EchoAddTxDrop:           "EchoAddTxDrop",
	PortAdd:                 "PortAdd",
	AddAddrDrop:             "AddAddrDrop",
	RmAddr:                  "RmAddr",
	RmAddrDrop:              "RmAddrDrop",
	RmAddrTx:                "RmAddrTx",
	RmAddrTxDrop:            "RmAddrTxDrop",
	RmSubflow:               "RmSubflow",
	MPPrioTx:                "MPPrioTx",
	MPPrioRx:                "MPPrioRx",
	MPFailTx:                "MPFailTx",
	MPFailRx:                "MPFailRx",
	MPFastcloseTx:           "MPFastcloseTx",
	MPFastcloseRx:           "MPFastcloseRx",
	MPRstTx:                 "MPRstTx",
	MPRstRx:                 "MPRstRx",
	SubflowStale:            "SubflowStale",
	SubflowRecover:          "SubflowRecover",
	MPCurrEstab:             "MPCurrEstab",
	Blackhole:               "Blackhole",
	MPCapableDataFallback:   "MPCapableDataFallback",
	MD5SigFallback:          "MD5SigFallback",
	DssFallback:             "DssFallback",
	SimultConnectFallback:   "SimultConnectFallback",
	FallbackFailed:          "FallbackFailed",
}

// String returns the name the kernel prints for c.
func (c Counter) String() string {
	if c < numCounters {
		return counterNames[c]
	}
	return "Counter(" + itoa(uint64(c)) + ")"
}

// Counters returns every Counter, in the kernel's order.
func Counters() []Counter {
	cs := make([]Counter, numCounters)
	for i := range cs {
		cs[i] = Counter(i)
	}
	return cs
}

// itoa formats n in decimal.
func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
