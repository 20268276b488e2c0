//go:build !linux

package mptcpinfo

// TCPInfo stands in for Linux's struct tcp_info on systems without MPTCP
// statistics. It has the fields the Subflow accessors read; they stay zero.
type TCPInfo struct {
	State          uint8
	Rtt            uint32
	Total_retrans  uint32
	Bytes_acked    uint64
	Bytes_received uint64
	Bytes_sent     uint64
	Bytes_retrans  uint64
}

func tcpInfoEnd(Field) int { return 1 }
