package detect

import "golang.org/x/sys/unix"

// MPTCPSocketOpens reports whether this host can open an MPTCP socket now,
// in the calling thread's network namespace (net.mptcp.enabled is a setting
// of each namespace). It is asked only about a dialed connection that
// turned out plain TCP, at its first sample, which runs on the goroutine
// that dialed. A variable, so that tests can pretend either way.
var MPTCPSocketOpens = canOpenMPTCP

// canOpenMPTCP opens and closes an MPTCP socket, IPv4 or else IPv6. The
// kernel refuses with EPROTONOSUPPORT without MPTCP, and with ENOPROTOOPT
// when net.mptcp.enabled=0.
func canOpenMPTCP() bool {
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
		if err == nil {
			unix.Close(fd)
			return true
		}
	}
	return false
}
