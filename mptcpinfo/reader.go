package mptcpinfo

import "errors"

// ErrNotSupported is returned where the operating system has no MPTCP
// statistics (every GOOS but linux).
var ErrNotSupported = errors.New("mptcpinfo: MPTCP statistics are not supported on this operating system")
