package mptcpinfo

// The Go mirrors of the kernel's MPTCP socket option structures
// (include/uapi/linux/mptcp.h). They are plain data on every GOOS so that
// decoders, fuzz targets and tests build everywhere; only the reader that
// fills them is Linux-specific.
//
// What is exported is meant as a mirror of the kernel's ABI that a program
// may rely on: the option level and names (for a program that issues a
// getsockopt of its own), the bits of mptcp_info's flags, and Info, the
// connection-level structure every Snapshot carries, with its size. The
// headers and arrays that only the Reader passes to the kernel stay
// inside the package.
//
// Layouts are those of every 64-bit Linux ABI. layout_test.go pins each size
// and offset against the table the project keeps of the kernel headers, and,
// when cgo is available, against the system's own headers.

// Socket option level and names. x/sys/unix has SOL_MPTCP and IPPROTO_MPTCP
// but none of the option numbers.
const (
	SOL_MPTCP     = 284 // since Linux 5.16
	IPPROTO_MPTCP = 262 // since Linux 5.6

	MPTCP_INFO          = 1 // struct mptcp_info; a getsockopt since 5.16
	MPTCP_TCPINFO       = 2 // mptcp_subflow_data + tcp_info[]; since 5.16
	MPTCP_SUBFLOW_ADDRS = 3 // mptcp_subflow_data + mptcp_subflow_addrs[]; since 5.16
	MPTCP_FULL_INFO     = 4 // struct mptcp_full_info; since 6.5
)

// Bits of Info.Flags.
const (
	// FlagFallback: the connection fell back to plain TCP. getsockopt
	// normally fails on such a socket before it can report this bit (the
	// call is passed through to the lone TCP subflow), but the kernel sets it
	// when it still answers, for example through sock_diag.
	FlagFallback = 1 << 0
	// FlagRemoteKeyReceived: the peer's key arrived, so MPTCP was negotiated.
	FlagRemoteKeyReceived = 1 << 1
)

// Info is struct mptcp_info, the connection-level state of an MPTCP socket.
// It has grown with the kernel: 40 bytes in 5.9, 48 in 5.12, 80 in 6.5, 88 in
// 6.7 and 96 since 6.10. A field is valid only when the length the kernel
// returned covers it: see Snapshot.Has.
type Info struct {
	ExtraSubflows      uint8 // subflows beyond the initial one (mptcpi_subflows): joins, not counting the first
	AddAddrSignal      uint8
	AddAddrAccepted    uint8
	SubflowsMax        uint8
	AddAddrSignalMax   uint8
	AddAddrAcceptedMax uint8
	_                  [2]byte
	Flags              uint32 // FlagFallback, FlagRemoteKeyReceived
	Token              uint32
	WriteSeq           uint64 // MPTCP-level sequence number of the next byte to send
	SndUna             uint64 // MPTCP-level oldest unacknowledged byte
	RcvNxt             uint64 // MPTCP-level next byte expected from the peer
	LocalAddrUsed      uint8  // 5.12
	LocalAddrMax       uint8  // 5.12
	CsumEnabled        uint8  // 5.14
	_                  uint8
	Retransmits        uint32 // 6.5
	BytesRetrans       uint64 // 6.5
	BytesSent          uint64 // 6.5
	BytesReceived      uint64 // 6.5
	BytesAcked         uint64 // 6.5
	SubflowsTotal      uint8  // 6.7: all subflows, the initial one included while attached
	EndpLaminarMax     uint8  // 6.18, former reserved byte: reads 0 on older kernels
	EndpFullmeshMax    uint8  // 6.19, former reserved byte: reads 0 on older kernels
	_                  uint8
	LastDataSent       uint32 // 6.10, milliseconds ago
	LastDataRecv       uint32 // 6.10, milliseconds ago
	LastAckRecv        uint32 // 6.10, milliseconds ago
}

// subflowData is struct mptcp_subflow_data, the header in front of the
// arrays returned by MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS.
type subflowData struct {
	SizeSubflowData uint32 // set by the caller: the offset of the array (>= 16)
	NumSubflows     uint32 // must be 0 in; the kernel writes the real count
	SizeKernel      uint32 // must be 0 in; the kernel writes its element size
	SizeUser        uint32 // caller's element size; the kernel writes back min(user, kernel)
}

// subflowAddrs is struct mptcp_subflow_addrs: each side a struct
// sockaddr_storage holding a sockaddr_in or sockaddr_in6.
type subflowAddrs struct {
	Local  [128]byte
	Remote [128]byte
}

// subflowInfo is struct mptcp_subflow_info, an element of the
// MPTCP_FULL_INFO subflow array.
type subflowInfo struct {
	ID    uint32
	_     uint32
	Addrs subflowAddrs
}

// fullInfo is struct mptcp_full_info, the header of MPTCP_FULL_INFO (6.5+).
// SubflowInfo and TCPInfo carry raw user-space addresses of two arrays that
// the kernel writes into: see the reader for how their memory is kept safe.
type fullInfo struct {
	SizeTCPInfoKernel uint32 // must be 0 in
	SizeTCPInfoUser   uint32
	SizeSfInfoKernel  uint32 // must be 0 in
	SizeSfInfoUser    uint32
	NumSubflows       uint32 // must be 0 in; the kernel writes the real count
	SizeArraysUser    uint32 // slots in each array
	SubflowInfo       uint64 // address of [SizeArraysUser]subflowInfo
	TCPInfo           uint64 // address of [SizeArraysUser]TCPInfo
	Info              Info
}

// SizeofInfo is the size of Info: the longest struct mptcp_info this
// package knows. A kernel may answer with less (see Snapshot.InfoLen).
const SizeofInfo = 96

// Sizes of the structures above, and of the header that precedes Info in
// fullInfo (the kernel's MIN_FULL_INFO_OPTLEN).
const (
	sizeofSubflowData  = 16
	sizeofSubflowAddrs = 256
	sizeofSubflowInfo  = 264
	sizeofFullInfo     = 136
	sizeofFullInfoHead = 40
)
