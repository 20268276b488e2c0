package mptcpxgrpc_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

// TestRPCs runs a unary and a server-streaming RPC from a grpc-go client
// that dials with mptcpx to a grpc-go server on a mptcpx listener, over
// loopback, in plaintext and with TLS. Both RPCs share one MPTCP
// connection; its *mptcpx.Conn reaches the server's handlers and the
// client (grpc.Peer, the stream's Context), the wrapped credentials'
// AuthInfo stays reachable, and every RPC span, client and server, links
// to the mptcp.connection span of its side.
func TestRPCs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		creds    func(testing.TB) (server, client credentials.TransportCredentials)
		authType string
		level    credentials.SecurityLevel
	}{
		{"insecure", func(testing.TB) (credentials.TransportCredentials, credentials.TransportCredentials) {
			return insecure.NewCredentials(), insecure.NewCredentials()
		}, "insecure", credentials.NoSecurity},
		{"tls", tlsCredentials, "tls", credentials.PrivacyAndIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.RequireMPTCP(t)
			testenv.CheckSockets(t)
			tel := oteltest.New(t)
			serverCreds, clientCreds := tc.creds(t)
			ln := listen(t, tel)
			ts, stop := serve(t, ln, serverOptions(tel, serverCreds)...)
			cc := newClient(t, ln.Addr().String(), clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), clientCreds)...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			// Unary: the client finds the connection in the peer.
			p := unary(t, ctx, cc, 100<<10)
			c, ok := mptcpxgrpc.ConnFromPeer(p)
			if !ok {
				t.Fatalf("client: ConnFromPeer found no connection; AuthInfo %T", p.AuthInfo)
			}
			if mp, err := c.MultipathTCP(); !mp || err != nil {
				t.Errorf("client connection: MultipathTCP() = %v, %v", mp, err)
			}
			if c.RemoteAddr().String() != ln.Addr().String() || p.Addr.String() != ln.Addr().String() {
				t.Errorf("client connection to %v, peer %v; the server is %v", c.RemoteAddr(), p.Addr, ln.Addr())
			}
			checkAuthInfo(t, "client", p.AuthInfo, tc.authType, tc.level)

			// Server streaming: the stream's Context has the peer.
			stream, err := testgrpc.NewTestServiceClient(cc).StreamingOutputCall(ctx, streamRequest(64, 16<<10))
			if err != nil {
				t.Fatal(err)
			}
			r := &receiver{stream: stream}
			if err := <-r.receive(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if got := r.received(); got != 64*16<<10 {
				t.Errorf("stream: %d bytes, want %d", got, 64*16<<10)
			}
			if sc, ok := mptcpxgrpc.ConnFromContext(stream.Context()); !ok || sc != c {
				t.Errorf("client stream's Context: connection %p (%v), want %p, the unary RPC's", sc, ok, c)
			}

			// The handlers saw the server end of the same connection.
			rpcs := ts.seen()
			if len(rpcs) != 2 {
				t.Fatalf("server: %d RPCs, want 2", len(rpcs))
			}
			for _, r := range rpcs {
				if r.conn == nil {
					t.Fatalf("server %s: ConnFromContext found no connection; AuthInfo %T", r.method, r.authInfo)
				}
				if !r.mptcp || r.conn != rpcs[0].conn {
					t.Errorf("server %s: connection %p, MultipathTCP %v; want MPTCP, one connection for both RPCs", r.method, r.conn, r.mptcp)
				}
				if r.conn.RemoteAddr().String() != c.LocalAddr().String() {
					t.Errorf("server %s: connection from %v, the client's is from %v", r.method, r.conn.RemoteAddr(), c.LocalAddr())
				}
				checkAuthInfo(t, "server "+r.method, r.authInfo, tc.authType, tc.level)
			}

			// Closing ends the connection spans; every RPC span links to
			// its side's.
			cc.Close()
			stop()
			clientConns := waitConnSpans(t, tel, oteltest.RoleClient, 1)
			serverConns := waitConnSpans(t, tel, oteltest.RoleServer, 1)
			for _, name := range []string{unarySpan, streamSpan} {
				checkLinked(t, "client "+name, waitRPCSpans(t, tel, name, trace.SpanKindClient, 1), clientConns)
				server := waitRPCSpans(t, tel, name, trace.SpanKindServer, 1)
				checkLinked(t, "server "+name, server, serverConns)
				// The handler's context held the span that got the link,
				// and the connection span it links to.
				for _, r := range rpcs {
					if name == "grpc.testing.TestService/"+r.method {
						if !r.rpcSpan.Equal(server[0].SpanContext()) || !r.connSpan.Equal(serverConns[0].SpanContext()) {
							t.Errorf("server %s: handler saw RPC span %v and connection span %v; ended: %v and %v",
								r.method, r.rpcSpan, r.connSpan, server[0].SpanContext(), serverConns[0].SpanContext())
						}
					}
				}
			}
			if n := len(oteltest.SubflowEvents(t, clientConns[0], "mptcp.subflow.added")); n != 1 {
				t.Errorf("client connection span: %d mptcp.subflow.added events, want 1", n)
			}
		})
	}
}

// checkAuthInfo wants ai to be an AuthInfo of this package whose wrapped
// AuthInfo is the credentials' own, with its type and security level.
func checkAuthInfo(t testing.TB, side string, ai any, authType string, level credentials.SecurityLevel) {
	t.Helper()
	a, ok := ai.(mptcpxgrpc.AuthInfo)
	if !ok {
		t.Errorf("%s: AuthInfo %T, want mptcpxgrpc.AuthInfo", side, ai)
		return
	}
	if a.AuthType() != authType || a.GetCommonAuthInfo().SecurityLevel != level {
		t.Errorf("%s: AuthType %q, security level %v; want %q, %v", side, a.AuthType(), a.GetCommonAuthInfo().SecurityLevel, authType, level)
	}
	if authType == "tls" {
		info, ok := mptcpxgrpc.InnerAuthInfo(a).(credentials.TLSInfo)
		if !ok || !info.State.HandshakeComplete {
			t.Errorf("%s: wrapped AuthInfo %T, want a credentials.TLSInfo of a complete handshake", side, a.AuthInfo)
		}
		if a.GetSecurityValue() == nil {
			t.Errorf("%s: no channelz security value", side)
		}
	}
}
