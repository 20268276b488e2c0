package mptcpxotel

// ScopeName is the instrumentation scope of the tracer and the meter: the
// import path of this package.
const ScopeName = "github.com/mptcpx/mptcpx/mptcpxotel"

// Version is the version of this instrumentation, reported with ScopeName.
const Version = "0.1.0"
