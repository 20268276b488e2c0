// Package e2e holds the end-to-end test of the examples httpserver and
// httpclient against real backends: a Jaeger all-in-one (built from source
// at the version internal/jaegertool pins, cached between runs) receives
// their spans over OTLP, and must show every HTTP request span linked to
// the span of its connection; a VictoriaLogs (built from source at the
// version internal/vlogstool pins, cached the same way, its storage in a
// temporary directory) receives the log records of their connection events
// over OTLP; and a Prometheus server (the Debian package's binary) scrapes
// their metrics. The examples grpcserver and grpcclient then export to the
// same Jaeger and VictoriaLogs, which must show their RPC spans linked to
// their connections' spans. Every span event of a connection span must
// have its twin log record in VictoriaLogs, found by its trace id: same
// name, same attributes, same trace and span ids. Everything listens on
// 127.0.0.1 only.
//
// The test is opt-in because its first run builds Jaeger and VictoriaLogs,
// which takes minutes; scripts/e2e at the repository root runs it:
//
//	MPTCPX_E2E=1 go test -race -v ./e2e
//
// MPTCPX_JAEGER, MPTCPX_VICTORIALOGS and MPTCPX_PROMETHEUS name the
// binaries to use instead of the cached builds and the prometheus found in
// PATH.
package e2e
