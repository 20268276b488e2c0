package mptcpinfo

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCPInfo is the kernel's struct tcp_info, as golang.org/x/sys/unix defines
// it (the newest layout: 280 bytes, Linux 6.18). Older kernels return a
// prefix of it: 232 bytes on 5.4, 240 on 6.2, 248 on 6.7.
type TCPInfo = unix.TCPInfo

// tcpInfoEnd is how many bytes of tcp_info a kernel must return for f.
func tcpInfoEnd(f Field) int {
	var t TCPInfo
	switch f {
	case FieldTCPRcvWnd:
		return int(unsafe.Offsetof(t.Rehash)) + 4
	case FieldTCPTotalRTO:
		return int(unsafe.Offsetof(t.Total_rto_time)) + 4
	case FieldTCPAccECN:
		return int(unsafe.Offsetof(t.Received_ce_bytes)) + 4
	}
	return 1
}
