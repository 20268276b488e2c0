package mptcpinfo

import "errors"

// ErrNotSupported is returned where the operating system has no MPTCP
// statistics (every GOOS but linux).
var ErrNotSupported = errors.New("mptcpinfo: MPTCP statistics are not supported on this operating system")

// noCopy makes go vet's copylocks check report copies of the struct that
// holds it: Lock and Unlock are what the check looks for. See Reader.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
