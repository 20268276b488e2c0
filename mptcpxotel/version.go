package mptcpxotel

import "github.com/mptcpx/mptcpx/internal/version"

// ScopeName is the instrumentation scope of the tracer and the meter: the
// import path of this package.
const ScopeName = "github.com/mptcpx/mptcpx/mptcpxotel"

// Version is the version of this instrumentation, reported with ScopeName:
// the version of the module (the latest release).
const Version = version.Version
