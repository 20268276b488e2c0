//go:build !linux

package detect

// MPTCPSocketOpens reports false: there is no MPTCP on this system.
var MPTCPSocketOpens = func() bool { return false }
