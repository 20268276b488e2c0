package mptcpinfo

import "unsafe"

// TCPInfo is the kernel's struct tcp_info (include/uapi/linux/tcp.h), in its
// newest layout (280 bytes, Linux 6.18), on every operating system, so that
// code reading a field compiles everywhere (elsewhere than on Linux the
// fields stay zero). Older kernels return a prefix of it: 232 bytes on 5.4,
// 240 on 6.2, 248 on 6.7; Snapshot.TCPInfoLen says how much, and
// Snapshot.Has which fields that covers. Times are in microseconds unless
// named otherwise, as the kernel gives them.
type TCPInfo struct {
	State       uint8 // TCP state: 1 ESTABLISHED, 2 SYN_SENT, 3 SYN_RECV, 7 CLOSE, ...
	CAState     uint8 // congestion-avoidance state: 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss
	Retransmits uint8 // retransmissions of the segment at the head of the queue in a row
	Probes      uint8 // zero-window probes sent unanswered
	Backoff     uint8 // exponential backoff of the retransmission timer
	Options     uint8 // TCPI_OPT_*: timestamps, SACK, window scaling, ECN, ...
	// WScale holds the send window scale (low 4 bits) and the receive one
	// (high 4 bits); Flags the app-limited delivery rate (bit 0) and the
	// reason a fast-open client failed (bits 1 and 2).
	WScale uint8
	Flags  uint8

	RTO          uint32 // retransmission timeout
	ATO          uint32 // delayed-ACK timeout
	SndMSS       uint32
	RcvMSS       uint32
	Unacked      uint32 // segments sent and not acknowledged
	Sacked       uint32
	Lost         uint32 // segments thought lost
	Retrans      uint32 // segments retransmitted and not acknowledged
	Fackets      uint32
	LastDataSent uint32 // milliseconds since
	LastAckSent  uint32
	LastDataRecv uint32 // milliseconds since
	LastAckRecv  uint32 // milliseconds since
	PMTU         uint32
	RcvSsthresh  uint32
	RTT          uint32 // smoothed round-trip time
	RTTVar       uint32
	SndSsthresh  uint32
	SndCwnd      uint32 // congestion window, in segments
	AdvMSS       uint32
	Reordering   uint32
	RcvRTT       uint32
	RcvSpace     uint32
	TotalRetrans uint32 // segments retransmitted over the connection's life

	PacingRate    uint64 // bytes per second
	MaxPacingRate uint64
	BytesAcked    uint64 // RFC 4898 tcpEStatsAppHCThruOctetsAcked
	BytesReceived uint64 // RFC 4898 tcpEStatsAppHCThruOctetsReceived
	SegsOut       uint32
	SegsIn        uint32
	NotsentBytes  uint32
	MinRTT        uint32
	DataSegsIn    uint32
	DataSegsOut   uint32
	DeliveryRate  uint64 // bytes per second

	BusyTime      uint64 // time with outstanding data
	RwndLimited   uint64 // time limited by the receive window
	SndbufLimited uint64 // time limited by the send buffer

	Delivered   uint32
	DeliveredCE uint32

	BytesSent    uint64 // RFC 4898 tcpEStatsPerfHCDataOctetsOut, retransmissions included
	BytesRetrans uint64 // RFC 4898 tcpEStatsPerfOctetsRetrans
	DSACKDups    uint32 // RFC 4898 tcpEStatsStackDSACKDups
	ReordSeen    uint32 // reordering events seen
	RcvOOOPack   uint32 // out-of-order packets received (5.4)
	SndWnd       uint32 // the peer's advertised receive window (5.4)
	RcvWnd       uint32 // the local receive window (6.2)
	Rehash       uint32 // PLB and timeout-triggered rehashes (6.2)

	TotalRTO           uint16 // retransmission timeouts (6.7)
	TotalRTORecoveries uint16 // recoveries after such timeouts (6.7)
	TotalRTOTime       uint32 // milliseconds in them (6.7)

	// AccECN counters (6.18).
	ReceivedCE       uint32
	DeliveredE1Bytes uint32
	DeliveredE0Bytes uint32
	DeliveredCEBytes uint32
	ReceivedE1Bytes  uint32
	ReceivedE0Bytes  uint32
	ReceivedCEBytes  uint32
	_                [4]byte
}

// tcpInfoEnd is how many bytes of tcp_info a kernel must return for f.
func tcpInfoEnd(f Field) int {
	var t TCPInfo
	switch f {
	case FieldTCPRcvWnd:
		return int(unsafe.Offsetof(t.Rehash)) + 4
	case FieldTCPTotalRTO:
		return int(unsafe.Offsetof(t.TotalRTOTime)) + 4
	case FieldTCPAccECN:
		return int(unsafe.Offsetof(t.ReceivedCEBytes)) + 4
	}
	return 1
}
