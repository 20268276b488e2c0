package mptcpinfo

import (
	"net/netip"
	"time"
	"unsafe"
)

// Method says how a Snapshot was obtained: which rung of the kernel-version
// ladder the running kernel reached.
type Method uint8

const (
	// MethodNone: nothing was read (zero Snapshot, or the read failed).
	MethodNone Method = iota
	// MethodFullInfo: one getsockopt(MPTCP_FULL_INFO) (Linux 6.5+).
	MethodFullInfo
	// MethodSplit: MPTCP_INFO, then MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO
	// matched by position (Linux 5.16 to 6.4). Subflow ids are not reported.
	MethodSplit
	// MethodProtocol: only SO_PROTOCOL (kernels before 5.16, where every
	// SOL_MPTCP getsockopt fails): tells whether the socket was opened as
	// MPTCP, nothing more.
	MethodProtocol
	// MethodInfo: MPTCP_INFO alone (Reader.ReadInfo): the connection-level
	// state, no subflow.
	MethodInfo
)

func (m Method) String() string {
	switch m {
	case MethodNone:
		return "none"
	case MethodFullInfo:
		return "full_info"
	case MethodSplit:
		return "split"
	case MethodProtocol:
		return "protocol"
	case MethodInfo:
		return "info"
	}
	return "unknown"
}

// Subflow is one TCP subflow of an MPTCP connection.
type Subflow struct {
	// ID is the kernel's subflow id: 1 for the initial subflow, then 2, 3,
	// ... in join order, never reused within a connection. 0 when the kernel
	// does not report ids (MethodSplit).
	ID     uint32
	Local  netip.AddrPort // zero when the kernel gave an unknown family
	Remote netip.AddrPort
	// TCPInfo is the subflow's tcp_info. Only its first Snapshot.TCPInfoLen
	// bytes come from the kernel; the rest is zero. See Snapshot.Has and
	// the FieldTCP* fields.
	TCPInfo TCPInfo
}

// Snapshot is one reading of an MPTCP socket's state. A Reader fills a
// caller-owned Snapshot and reuses its Subflows slice, so reading into the
// same Snapshot again does not allocate.
type Snapshot struct {
	// Method is the way the running kernel allowed this reading.
	Method Method
	// Protocol is what the socket was opened as (SO_PROTOCOL): IPPROTO_MPTCP
	// or IPPROTO_TCP. An accepted socket reports IPPROTO_TCP when the client
	// did not ask for MPTCP. 0 when it was not read.
	Protocol int
	// MPTCP is true when the socket speaks MPTCP right now.
	MPTCP bool
	// Fallback is true when the socket was opened as MPTCP, or accepted from
	// an MPTCP listener, but is plain TCP now: the peer did not negotiate
	// MPTCP, or the connection fell back later. Never set on kernels before
	// 5.16, where it cannot be told apart from "no statistics". A connection
	// torn down by a reset refuses SOL_MPTCP like a fallen-back one; it is
	// not reported as a fallback (State is then 7, CLOSE).
	Fallback bool
	// State is the TCP state of the socket itself (tcp_info.state: 1
	// ESTABLISHED, 7 CLOSE, ...), read only for an MPTCP socket that
	// refuses SOL_MPTCP; 0 otherwise.
	State uint8
	// Retransmits is the socket's own tcp_info.total_retrans, read with
	// State (only for an MPTCP socket that refuses SOL_MPTCP; 0
	// otherwise): the segments it retransmitted. At the first reading of
	// a connection that fell back at its handshake it counts the SYNs the
	// kernel sent again before an answer came, which tells a fallback
	// after unanswered MP_CAPABLE SYNs (the kernel's blackhole detection,
	// Linux 6.12+, drops MP_CAPABLE after
	// net.mptcp.syn_retrans_before_tcp_fallback retransmissions) from a
	// peer that answered without MPTCP.
	Retransmits uint32
	// Info is the connection-level mptcp_info. Only the first InfoLen bytes
	// come from the kernel; see Has.
	Info Info
	// InfoLen is how many bytes of mptcp_info the kernel returned.
	InfoLen int
	// TCPInfoLen is how many bytes of tcp_info the kernel returned per
	// subflow (its element size clamped to ours).
	TCPInfoLen int
	// NumSubflows is the number of subflows, len(Subflows). Subflows in
	// CLOSE state stay listed after shutdown, so it can exceed
	// Info.SubflowsTotal. The stand-in entry the kernel lists once the
	// connection is shut down in both directions (state CLOSE, no peer
	// port, zeroed counters: the disconnected first subflow) is not a
	// subflow and is left out.
	NumSubflows int
	// Subflows lists every subflow; len(Subflows) == NumSubflows.
	Subflows []Subflow
}

// Field names a value that only some kernels fill in.
type Field uint8

const (
	FieldLocalAddrUsed Field = iota // mptcp_info.local_addr_used/max, 5.12
	FieldCsumEnabled                // mptcp_info.csum_enabled, 5.14
	FieldBytes                      // mptcp_info retransmits and bytes_*, 6.5
	FieldSubflowsTotal              // mptcp_info.subflows_total, 6.7
	FieldLastData                   // mptcp_info.last_data_*/last_ack_recv, 6.10
	FieldSubflowList                // per-subflow addresses, 5.16
	FieldSubflowID                  // per-subflow ids (MPTCP_FULL_INFO), 6.5
	FieldTCPInfo                    // per-subflow tcp_info, 5.16
	FieldTCPRcvWnd                  // tcp_info.rcv_wnd and rehash, 6.2
	FieldTCPTotalRTO                // tcp_info.total_rto*, 6.7
	FieldTCPAccECN                  // tcp_info AccECN counters, 6.18
	numFields
)

var fieldNames = [numFields]string{
	"local_addr_used", "csum_enabled", "bytes", "subflows_total", "last_data",
	"subflow_list", "subflow_id", "tcp_info", "tcp_rcv_wnd", "tcp_total_rto",
	"tcp_accecn",
}

func (f Field) String() string {
	if f < numFields {
		return fieldNames[f]
	}
	return "unknown"
}

// Has reports whether the running kernel filled field f in this snapshot, so
// that "this kernel does not report it" is never mistaken for zero.
func (s *Snapshot) Has(f Field) bool {
	switch f {
	case FieldLocalAddrUsed:
		return s.InfoLen >= int(unsafe.Offsetof(s.Info.LocalAddrMax))+1
	case FieldCsumEnabled:
		return s.InfoLen >= int(unsafe.Offsetof(s.Info.CsumEnabled))+1
	case FieldBytes:
		return s.InfoLen >= int(unsafe.Offsetof(s.Info.BytesAcked))+8
	case FieldSubflowsTotal:
		return s.InfoLen >= int(unsafe.Offsetof(s.Info.SubflowsTotal))+1
	case FieldLastData:
		return s.InfoLen >= int(unsafe.Offsetof(s.Info.LastAckRecv))+4
	case FieldSubflowList:
		return s.Method == MethodFullInfo || s.Method == MethodSplit
	case FieldSubflowID:
		return s.Method == MethodFullInfo
	case FieldTCPInfo, FieldTCPRcvWnd, FieldTCPTotalRTO, FieldTCPAccECN:
		return s.TCPInfoLen > 0 && s.TCPInfoLen >= tcpInfoEnd(f)
	}
	return false
}

// RTT returns the subflow's smoothed round-trip time (tcp_info.rtt), 0 when
// the kernel gave no tcp_info.
func (sf *Subflow) RTT() time.Duration { return time.Duration(sf.TCPInfo.RTT) * time.Microsecond }

// BytesSent returns the bytes this subflow sent, retransmissions included
// (tcp_info.bytes_sent).
func (sf *Subflow) BytesSent() uint64 { return sf.TCPInfo.BytesSent }

// BytesReceived returns the bytes this subflow received (tcp_info.bytes_received).
func (sf *Subflow) BytesReceived() uint64 { return sf.TCPInfo.BytesReceived }

// BytesAcked returns the bytes the peer acknowledged on this subflow.
func (sf *Subflow) BytesAcked() uint64 { return sf.TCPInfo.BytesAcked }

// BytesRetrans returns the bytes this subflow retransmitted.
func (sf *Subflow) BytesRetrans() uint64 { return sf.TCPInfo.BytesRetrans }

// State returns the subflow's TCP state (tcp_info.state: 1 ESTABLISHED, 7 CLOSE, 10 LISTEN, ...).
func (sf *Subflow) State() uint8 { return sf.TCPInfo.State }
