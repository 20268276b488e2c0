//go:build !linux

package mptcpx

import "net"

// plainTCPListener reports false: without MPTCP on this system, a plain
// connection is never reported as a fallback.
func plainTCPListener(net.Listener) bool { return false }
