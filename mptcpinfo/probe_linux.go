package mptcpinfo

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelMethod caches the probe: 0 until probed, then a Method, with
// probeUnavailable set when no MPTCP socket could be opened.
var kernelMethod atomic.Uint32

const probeUnavailable = 1 << 8

// KernelMethod returns the best way the running kernel offers to read MPTCP
// statistics. It probes once per process and caches the answer:
//
//   - Linux 6.5 and later answer MPTCP_FULL_INFO: MethodFullInfo.
//   - Linux 5.16 to 6.4 answer MPTCP_INFO, MPTCP_TCPINFO and
//     MPTCP_SUBFLOW_ADDRS, but reject MPTCP_FULL_INFO with EOPNOTSUPP:
//     MethodSplit.
//   - Older kernels reject every SOL_MPTCP getsockopt (5.9 to 5.15 report
//     mptcp_info through sock_diag only): MethodProtocol.
//
// The probe asks a fresh, unconnected MPTCP socket, which answers every
// option with zero subflows, so that a connection that fell back to TCP
// (which rejects SOL_MPTCP the same way an old kernel does) is never mistaken
// for an old kernel. When no MPTCP socket can be opened (no CONFIG_MPTCP, or
// sysctl net.mptcp.enabled=0) the kernel version decides instead.
func KernelMethod() Method {
	return Method(probe() &^ probeUnavailable)
}

// Available reports whether this process could open an MPTCP socket when it
// first asked (the same probe as KernelMethod): false on kernels built
// without MPTCP and where sysctl net.mptcp.enabled=0. Where it is false,
// every connection is plain TCP by necessity, which is not a fallback.
func Available() bool {
	return probe()&probeUnavailable == 0
}

func probe() uint32 {
	if p := kernelMethod.Load(); p != 0 {
		return p
	}
	m, ok := probeKernel()
	p := uint32(m)
	if !ok {
		p |= probeUnavailable
	}
	kernelMethod.Store(p)
	return p
}

// probeKernel returns the rung and whether an MPTCP socket could be opened.
func probeKernel() (Method, bool) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, IPPROTO_MPTCP)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, IPPROTO_MPTCP)
	}
	if err != nil {
		return methodForVersion(kernelVersion()), false
	}
	defer unix.Close(fd)
	// A header with no array slots: the kernel writes only into it.
	var buf [sizeofFullInfo / 8]uint64
	optlen := uint32(sizeofFullInfo)
	if getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO, unsafe.Pointer(&buf[0]), &optlen) == 0 {
		return MethodFullInfo, true
	}
	optlen = SizeofInfo
	if getsockopt(fd, SOL_MPTCP, MPTCP_INFO, unsafe.Pointer(&buf[0]), &optlen) == 0 {
		return MethodSplit, true
	}
	return MethodProtocol, true
}

// methodForVersion maps a kernel version to the rung mainline Linux offers.
func methodForVersion(major, minor int) Method {
	switch {
	case major > 6 || major == 6 && minor >= 5:
		return MethodFullInfo
	case major > 5 || major == 5 && minor >= 16:
		return MethodSplit
	}
	return MethodProtocol
}

// kernelVersion parses the release uname(2) reports ("6.18.4-...").
func kernelVersion() (major, minor int) {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return 0, 0
	}
	return parseRelease(unix.ByteSliceToString(u.Release[:]))
}

func parseRelease(rel string) (major, minor int) {
	n, part := 0, 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] >= '0' && rel[i] <= '9' {
			n = n*10 + int(rel[i]-'0')
			continue
		}
		if part == 0 {
			major = n
		} else {
			return major, n
		}
		if i == len(rel) || rel[i] != '.' {
			return major, 0
		}
		n, part = 0, 1
	}
	return major, minor
}
