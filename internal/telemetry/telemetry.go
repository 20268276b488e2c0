// Package telemetry is the seam between package mptcpx and its
// OpenTelemetry instrumentation, package mptcpxotel. mptcpx installs the
// instrumentation on every connection, with the options given to
// mptcpx.WithTelemetry, and that is the one way to install it: mptcpxotel
// keeps its constructor out of its public API and hands it over here when
// it is initialised. mptcpx imports mptcpxotel (WithTelemetry takes its
// options), so the constructor is set before any connection is made.
package telemetry

// New is mptcpxotel's constructor, set by its init: a
// func([]mptcpxotel.Option) conntrace.Hooks, which returns the
// instrumentation for those options, shared by every caller with the same
// ones. It is typed any because this package cannot name mptcpxotel's
// types without an import cycle; mptcpx asserts the type.
var New any
