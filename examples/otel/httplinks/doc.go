// Package httplinks holds the tests of mptcpxotel.LinkHandler and
// mptcpxotel.LinkTransport with otelhttp's own handler and transport
// (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp), which
// the library's module does not depend on. They run on loopback MPTCP
// connections of mptcpx, with an OpenTelemetry SDK that keeps every span,
// and check that each HTTP request span, on the server and on the client,
// links to the mptcp.connection span of the connection that carried the
// request: HTTP/1.1 with keep-alive, unencrypted HTTP/2 with concurrent
// requests, and TLS with either protocol.
//
//	go test -race ./httplinks
package httplinks
