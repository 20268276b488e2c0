package mptcpxgrpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

// TestCredentialsPassOn checks that the wrapper is the wrapped credentials
// in every respect grpc-go asks about, and that nil inputs fail cleanly.
func TestCredentialsPassOn(t *testing.T) {
	_, tlsClient := tlsCredentials(t)
	c := mptcpxgrpc.NewCredentials(tlsClient)
	if c.Info() != tlsClient.Info() {
		t.Errorf("Info() = %+v, want the wrapped %+v", c.Info(), tlsClient.Info())
	}
	clone := c.Clone()
	if clone == c || clone.Info() != c.Info() {
		t.Errorf("Clone() = %p with Info %+v, want a new wrapper with the same Info", clone, clone.Info())
	}
	//lint:ignore SA1019 the wrapper must still pass the deprecated method on.
	if err := clone.OverrideServerName("example.net"); err != nil {
		t.Errorf("OverrideServerName: %v", err)
	}
	// nil inner credentials: every handshake fails with ErrNoInner, nothing
	// goes through in plaintext, nothing panics.
	nilCreds := mptcpxgrpc.NewCredentials(nil)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if conn, ai, err := nilCreds.ClientHandshake(context.Background(), "example.net", a); !errors.Is(err, mptcpxgrpc.ErrNoInner) || conn != nil || ai != nil {
		t.Errorf("NewCredentials(nil).ClientHandshake = %v, %v, %v; want ErrNoInner", conn, ai, err)
	}
	if conn, ai, err := nilCreds.Clone().ServerHandshake(b); !errors.Is(err, mptcpxgrpc.ErrNoInner) || conn != nil || ai != nil {
		t.Errorf("NewCredentials(nil).Clone().ServerHandshake = %v, %v, %v; want ErrNoInner", conn, ai, err)
	}
	if p := nilCreds.Info().SecurityProtocol; p != "" {
		t.Errorf("NewCredentials(nil).Info().SecurityProtocol = %q, want none", p)
	}
	// SpanLinks(nil) links nothing and passes contexts through.
	h := mptcpxgrpc.SpanLinks(nil)
	ctx := context.WithValue(context.Background(), ctxKey{}, 1)
	if got := h.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: "/x/y"}); got != ctx {
		t.Error("SpanLinks(nil).TagRPC changed the context")
	}
	h.HandleRPC(ctx, &stats.Begin{})
	if got := h.TagConn(ctx, &stats.ConnTagInfo{}); got != ctx {
		t.Error("SpanLinks(nil).TagConn changed the context")
	}
	h.HandleConn(ctx, &stats.ConnBegin{})
}

type ctxKey struct{}

// TestSecurityLevel checks that per-RPC credentials see the wrapped
// credentials' security level: a token that must travel encrypted goes
// over TLS and is refused over plaintext, as without the wrapper.
func TestSecurityLevel(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	tlsServer, tlsClient := tlsCredentials(t)
	for _, tc := range []struct {
		name           string
		server, client credentials.TransportCredentials
		ok             bool
	}{
		{"tls", tlsServer, tlsClient, true},
		{"insecure", insecure.NewCredentials(), insecure.NewCredentials(), false},
	} {
		ln := listen(t, tel)
		serve(t, ln, mptcpxgrpc.Creds(tc.server))
		cc := newClient(t, ln.Addr().String(),
			mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil, mptcpxOptions(tel)...)),
			mptcpxgrpc.WithTransportCredentials(tc.client),
			grpc.WithPerRPCCredentials(token{}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{})
		cancel()
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: UnaryCall with the token: %v", tc.name, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "requires SecurityLevel")):
			t.Errorf("%s: UnaryCall with the token: %v; want the token refused for the security level", tc.name, err)
		}
	}
	// The wrapper also refuses what grpc-go refuses at NewClient: per-RPC
	// credentials that require transport security over plaintext.
	_, err := grpc.NewClient("127.0.0.1:1", mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(secureToken{}))
	if err == nil {
		t.Error("NewClient with plaintext and credentials that require transport security: no error")
	}
}

// token is a per-RPC credential that, as OAuth tokens do, checks the
// connection's security level itself (and does not declare that it needs
// transport security, so grpc-go lets it be used over plaintext).
type token struct{}

func (token) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer t"}, nil
}

func (token) RequireTransportSecurity() bool { return false }

// secureToken declares that it needs transport security.
type secureToken struct{ token }

func (secureToken) RequireTransportSecurity() bool { return true }

// TestPlainConnections checks the wrapper where there is no *mptcpx.Conn:
// a plain net.Listener and grpc-go's own dialer. The RPCs work, the
// handlers and the client see the wrapped credentials' AuthInfo itself,
// and no span gets a link.
func TestPlainConnections(t *testing.T) {
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts, stop := serve(t, ln, serverOptions(tel, insecure.NewCredentials())...)
	opts := clientOptions(tel, nil, insecure.NewCredentials())[1:] // grpc-go's dialer
	cc := newClient(t, ln.Addr().String(), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := unary(t, ctx, cc, 10)
	if _, ok := mptcpxgrpc.ConnFromPeer(p); ok {
		t.Error("client: ConnFromPeer found a connection on a plain TCP one")
	}
	if _, wrapped := p.AuthInfo.(mptcpxgrpc.AuthInfo); wrapped || p.AuthInfo.AuthType() != "insecure" {
		t.Errorf("client: AuthInfo %T (%s), want insecure's own", p.AuthInfo, p.AuthInfo.AuthType())
	}
	r := ts.seen()[0]
	if r.conn != nil {
		t.Error("server: ConnFromContext found a connection on a plain listener")
	}
	if _, wrapped := r.authInfo.(mptcpxgrpc.AuthInfo); wrapped {
		t.Errorf("server: AuthInfo %T, want insecure's own", r.authInfo)
	}
	cc.Close()
	stop()
	for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer} {
		if s := waitRPCSpans(t, tel, unarySpan, kind, 1)[0]; len(s.Links()) != 0 {
			t.Errorf("%v RPC span: links %v, want none", kind, links(s))
		}
	}
}

// TestHandshakeFailure checks that a TLS handshake that fails (a plaintext
// client at a TLS server) fails the RPC as it would without the wrapper,
// and that both connections are closed.
func TestHandshakeFailure(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	tlsServer, _ := tlsCredentials(t)
	ln := listen(t, tel)
	ts, stop := serve(t, ln, serverOptions(tel, tlsServer)...)
	cc := newClient(t, ln.Addr().String(), clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), insecure.NewCredentials())...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext UnaryCall to a TLS server: %v, want Unavailable", err)
	}
	if n := len(ts.seen()); n != 0 {
		t.Errorf("%d RPCs reached the handlers", n)
	}
	cc.Close()
	stop()
	// Every connection, dialed and accepted, ended.
	err = waitFor(10*time.Second, func() bool {
		c, s := len(tel.Spans(oteltest.RoleClient)), len(tel.Spans(oteltest.RoleServer))
		return c > 0 && c == s
	})
	if err != nil {
		t.Errorf("%d client and %d server connection spans ended, want as many, at least one", len(tel.Spans(oteltest.RoleClient)), len(tel.Spans(oteltest.RoleServer)))
	}
}
