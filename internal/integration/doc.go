// Package integration holds the end-to-end tests of mptcpx on real
// multi-path connections: two network namespaces joined by several veth
// paths (package internal/testbed), connections opened through the public
// API (mptcpx.Listen, mptcpx.NewDialer) inside them, and the telemetry they
// produce read back from an in-memory OpenTelemetry SDK (every span kept by a
// tracetest.SpanRecorder, metrics read on demand by a ManualReader).
//
// The tests check what a user of the library would see: one
// mptcp.subflow.added event per subflow with the addresses of its path,
// bytes per local address in mptcp.subflow.io, an mptcp.subflow.removed event
// soon after a path's endpoint is deleted, fallback to plain TCP in both
// directions, agreement with the kernel's own view printed by ss(8), and
// hundreds of connections whose paths come and go without leaking
// goroutines, sockets or gauge values.
//
// They need root (network namespaces, MPTCP endpoints). Otherwise they skip,
// or fail when MPTCPX_STRICT=1:
//
//	sudo MPTCPX_STRICT=1 go test -race ./internal/integration
//
// The package has no code of its own besides this comment: everything is in
// its _test.go files.
package integration
