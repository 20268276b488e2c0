package mptcpinfo

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelMethod caches the probe: 0 until probed, then a Method.
var kernelMethod atomic.Uint32

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
	if m := kernelMethod.Load(); m != 0 {
		return Method(m)
	}
	m := probeKernel()
	kernelMethod.Store(uint32(m))
	return m
}

func probeKernel() Method {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, IPPROTO_MPTCP)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, IPPROTO_MPTCP)
	}
	if err != nil {
		return methodForVersion(kernelVersion())
	}
	defer unix.Close(fd)
	// A header with no array slots: the kernel writes only into it.
	var buf [SizeofFullInfo / 8]uint64
	optlen := uint32(SizeofFullInfo)
	if getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO, unsafe.Pointer(&buf[0]), &optlen) == 0 {
		return MethodFullInfo
	}
	optlen = SizeofInfo
	if getsockopt(fd, SOL_MPTCP, MPTCP_INFO, unsafe.Pointer(&buf[0]), &optlen) == 0 {
		return MethodSplit
	}
	return MethodProtocol
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
