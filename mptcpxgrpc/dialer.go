package mptcpxgrpc

import (
	"context"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"

	"github.com/mptcpx/mptcpx"
)

// WithDialer returns a grpc.DialOption that makes a ClientConn open its
// connections with d: Multipath TCP connections, each a *mptcpx.Conn with
// its mptcp.connection span and metrics. A nil d is mptcpx.NewDialer(nil),
// which records through the global OpenTelemetry providers; build d with
// mptcpx.NewDialer(base, opts...) to choose the net.Dialer fields (timeout,
// local address, TCP keep-alive) and the mptcpx options (WithInterval,
// WithTelemetry, WithHooks, ...), or to share one Dialer with an http.Transport.
//
// grpc-go calls the dialer (grpc.WithContextDialer) once per connection it
// opens, with the resolved "host:port" of one backend and a context that
// ends at the connect timeout; it reconnects through it after a connection
// is lost, and opens one connection per backend address when a balancer
// such as round_robin spreads RPCs. Those connections start traces of their
// own: the context grpc-go dials with carries no RPC's span, which is why
// SpanLinks links RPC spans to them.
//
// With a dialer of its own, grpc-go no longer dials through an HTTP CONNECT
// proxy named by HTTPS_PROXY (it skips proxy resolution whenever a custom
// dialer is set), and sets no TCP keep-alive of its own: d's net.Dialer
// decides (Go's default is on, every 15 s). grpc-go's HTTP/2 keep-alive
// pings (grpc.WithKeepaliveParams) work as without the option. Targets with
// the unix scheme fail: Multipath TCP runs over TCP only.
//
// Use it with NewCredentials (WithTransportCredentials), which hands each
// connection to the RPCs it carries.
func WithDialer(d *mptcpx.Dialer) grpc.DialOption {
	if d == nil {
		d = mptcpx.NewDialer(nil)
	}
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "unix:") {
			return nil, &net.OpError{Op: "dial", Net: "unix", Err: fmt.Errorf("mptcpxgrpc: %q is a unix socket: Multipath TCP needs a TCP address", addr)}
		}
		return d.DialContext(ctx, "tcp", addr)
	})
}
