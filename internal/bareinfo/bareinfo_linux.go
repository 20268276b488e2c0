package bareinfo

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mptcpFullInfo is the option name of struct mptcp_full_info (Linux 6.5).
const mptcpFullInfo = 4

// request is the head of struct mptcp_full_info: the sizes the caller can
// take, the room in each array and the arrays' addresses. struct mptcp_info
// (96 bytes) follows it.
type request struct {
	sizeTCPInfoKernel uint32
	sizeTCPInfoUser   uint32
	sizeSfInfoKernel  uint32
	sizeSfInfoUser    uint32
	numSubflows       uint32
	sizeArraysUser    uint32
	subflowInfo       uint64
	tcpInfo           uint64
}

const (
	sizeofRequest     = 40
	sizeofInfo        = 96
	sizeofSubflowInfo = 264 // struct mptcp_subflow_info
	sizeofTCPInfo     = int(unsafe.Sizeof(unix.TCPInfo{}))
)

// FullInfo issues bare MPTCP_FULL_INFO requests into one buffer, pinned
// so that the kernel may write the arrays whose addresses the request
// carries. Not for concurrent use; Close releases the buffer.
type FullInfo struct {
	buf    []uint64
	pin    runtime.Pinner
	optlen *uint32
	slots  int
}

// NewFullInfo returns a FullInfo with room for slots subflows.
func NewFullInfo(slots int) *FullInfo {
	f := &FullInfo{
		buf:    make([]uint64, (sizeofRequest+sizeofInfo+slots*(sizeofSubflowInfo+sizeofTCPInfo)+7)/8),
		optlen: new(uint32),
		slots:  slots,
	}
	f.pin.Pin(&f.buf[0])
	return f
}

// Get asks the kernel for the MPTCP state of the socket fd and returns the
// errno of the call (0 on success).
func (f *FullInfo) Get(fd int) unix.Errno {
	base := uintptr(unsafe.Pointer(&f.buf[0]))
	arrays := base + sizeofRequest + sizeofInfo
	*(*request)(unsafe.Pointer(&f.buf[0])) = request{
		sizeTCPInfoUser: uint32(sizeofTCPInfo),
		sizeSfInfoUser:  sizeofSubflowInfo,
		sizeArraysUser:  uint32(f.slots),
		subflowInfo:     uint64(arrays),
		tcpInfo:         uint64(arrays + uintptr(f.slots)*sizeofSubflowInfo),
	}
	*f.optlen = sizeofRequest + sizeofInfo
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_MPTCP, mptcpFullInfo,
		base, uintptr(unsafe.Pointer(f.optlen)), 0)
	return e
}

// Close unpins the buffer.
func (f *FullInfo) Close() { f.pin.Unpin() }
