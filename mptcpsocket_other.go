//go:build !linux

package mptcpx

// mptcpSocketOpens reports false: there is no MPTCP on this system.
var mptcpSocketOpens = func() bool { return false }
