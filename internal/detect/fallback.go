package detect

import (
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// detectFallback notes when the connection is plain TCP, and why, from the
// socket itself. Once set, the reason stays: a connection never goes back to
// MPTCP.
//
// A socket opened as MPTCP that answers like plain TCP fell back: at the
// handshake (the peer did not answer in MPTCP) or later. A socket that is
// plain TCP from the start was never MPTCP: a dialed one although mptcpx
// asked for MPTCP, because this host could not open an MPTCP socket then
// (no MPTCP in the kernel, or net.mptcp.enabled=0 in the socket's network
// namespace), or, when it can, because the MPTCP dial failed and net
// dialed again in plain TCP; an accepted one because the client did not ask
// for MPTCP, or, when the listener itself is plain TCP, because the host
// could not open an MPTCP listener.
func (d *Detector) detectFallback(s *mptcpinfo.Snapshot, role conntrace.Role) {
	if s.MPTCP {
		d.sawMPTCP = true
	}
	if d.fallback != conntrace.FallbackNone || s.Method == mptcpinfo.MethodNone {
		return
	}
	r := conntrace.FallbackNone
	switch {
	case s.MPTCP || s.Protocol == 0:
		// MPTCP, or nothing known about the socket.
	case s.Fallback && d.sawMPTCP:
		r = conntrace.FallbackMidConnection
	case s.Fallback:
		r = conntrace.FallbackNotNegotiated
	case s.Protocol == mptcpinfo.IPPROTO_MPTCP:
		// Opened as MPTCP on a kernel that cannot say more (before 5.16,
		// every SOL_MPTCP option fails): not known to have fallen back.
	case role == conntrace.RoleServer && !d.PlainListener:
		r = conntrace.FallbackNotNegotiated
	case role == conntrace.RoleClient && MPTCPSocketOpens():
		// This host opens MPTCP sockets, yet the dialed one is plain: the
		// MPTCP attempt failed (refused, or timed out on a path that
		// drops MPTCP SYNs) and the net package dialed again in plain TCP,
		// as it does after any error of an MPTCP dial.
		r = conntrace.FallbackNotNegotiated
	default:
		r = conntrace.FallbackUnavailable
	}
	if r != conntrace.FallbackNone {
		d.fallback, d.fallbackNew = r, true
	}
}

// Blackhole makes a fallback found at the handshake the kernel's blackhole
// detection (conntrace.FallbackBlackhole): what its socket and its
// namespace's counters show, which the caller reads (internal/follow). It
// changes only a FallbackNotNegotiated that the last Detect found first,
// and reports whether it did.
func (d *Detector) Blackhole() bool {
	if d.fallback != conntrace.FallbackNotNegotiated || d.sawMPTCP {
		return false
	}
	d.fallback = conntrace.FallbackBlackhole
	return true
}
