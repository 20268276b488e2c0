package pmconfig

import (
	"strconv"
	"time"
)

// Sysctls are the files of a network namespace's /proc/sys/net/mptcp, by
// name, each with its content as read (without the final newline). Which
// files exist depends on the kernel: a file the kernel lacks is absent, not
// zero, and every accessor says so.
type Sysctls map[string]string

// Path manager names, as the path_manager sysctl spells them.
const (
	PathManagerKernel    = "kernel"
	PathManagerUserspace = "userspace"
)

// Lookup returns the content of the sysctl file name.
func (s Sysctls) Lookup(name string) (string, bool) {
	v, ok := s[name]
	return v, ok
}

// Int returns the sysctl file name as an integer, false when it is absent
// or not an integer.
func (s Sysctls) Int(name string) (int64, bool) {
	v, ok := s[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// Enabled reports net.mptcp.enabled: whether sockets of this namespace may
// ask for MPTCP. With 0, socket(IPPROTO_MPTCP) fails with ENOPROTOOPT
// (measured on 6.18): a program that falls back to plain TCP then has no
// MPTCP at all in this namespace, for connections and listeners alike.
func (s Sysctls) Enabled() (enabled, ok bool) {
	n, ok := s.Int("enabled")
	return n != 0, ok
}

// PathManager returns the namespace's path manager: PathManagerKernel (the
// in-kernel path manager, driven by the limits and endpoints) or
// PathManagerUserspace (a daemon decides, through generic netlink; the
// in-kernel limits and endpoints are not used). It reads
// net.mptcp.path_manager (on 6.18, not on 6.12; it may name other path
// managers registered with the kernel) or, where it is absent,
// net.mptcp.pm_type (0 kernel, 1 userspace; 6.18 keeps both in step). A
// connection keeps the path manager that was configured when it was
// created (the kernel copies it into the connection): the value says what
// new connections get.
func (s Sysctls) PathManager() (string, bool) {
	if v, ok := s["path_manager"]; ok {
		return v, true
	}
	n, ok := s.Int("pm_type")
	switch {
	case !ok:
		return "", false
	case n == 0:
		return PathManagerKernel, true
	case n == 1:
		return PathManagerUserspace, true
	}
	return "pm_type=" + strconv.FormatInt(n, 10), true
}

// BlackholeTimeout returns net.mptcp.blackhole_timeout (6.12 has it, 6.1
// not): how long active MPTCP stays off in the namespace after the kernel
// concluded that MP_CAPABLE SYNs are dropped on the way while plain SYNs
// pass. The period doubles with each further detection (up to 64 times)
// until an MPTCP connection succeeds. 0 turns the detection off (and ends a
// period in progress); writing any value resets the count of detections,
// which turns active MPTCP back on at once (measured, mibstat's
// TestBlackhole). No file shows whether a period is in progress: the
// MPTcpExt counters do (package mibstat).
func (s Sysctls) BlackholeTimeout() (time.Duration, bool) {
	return s.seconds("blackhole_timeout")
}

// SynRetransBeforeTCPFallback returns
// net.mptcp.syn_retrans_before_tcp_fallback (on 6.18, not on 6.12): after
// that many SYN retransmissions without an answer,
// an MPTCP connection attempt drops the MP_CAPABLE option and continues in
// plain TCP. Measured on 6.18: with 2 (the default) a dial through a
// blackhole takes about 3 s, with 0 about 1 s.
func (s Sysctls) SynRetransBeforeTCPFallback() (int, bool) {
	n, ok := s.Int("syn_retrans_before_tcp_fallback")
	return int(n), ok
}

// AddAddrTimeout returns net.mptcp.add_addr_timeout: how long the kernel
// waits for the echo of an ADD_ADDR before sending it again.
func (s Sysctls) AddAddrTimeout() (time.Duration, bool) {
	return s.seconds("add_addr_timeout")
}

// CloseTimeout returns net.mptcp.close_timeout (6.12 has it, 6.1 not):
// how long an orphaned MPTCP connection lingers after close.
func (s Sysctls) CloseTimeout() (time.Duration, bool) {
	return s.seconds("close_timeout")
}

// AllowJoinInitialAddrPort returns net.mptcp.allow_join_initial_addr_port:
// whether the peer may open subflows to the address and port of the
// initial subflow (the C flag of MP_CAPABLE is set when it may not).
func (s Sysctls) AllowJoinInitialAddrPort() (allowed, ok bool) {
	n, ok := s.Int("allow_join_initial_addr_port")
	return n != 0, ok
}

// seconds returns a sysctl counted in seconds (the kernel shows jiffies
// sysctls in seconds too).
func (s Sysctls) seconds(name string) (time.Duration, bool) {
	n, ok := s.Int(name)
	if !ok || n < 0 || n > int64(1<<63-1)/int64(time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
