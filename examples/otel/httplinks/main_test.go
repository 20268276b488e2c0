package httplinks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestMain fails the run if the tests leave goroutines or file descriptors
// behind: servers, transports and connections must all be closed.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, follow.Settle) }

// bed is an OpenTelemetry SDK that keeps every span, with an HTTP server
// and clients instrumented by otelhttp, their request spans linked by
// mptcpxotel, over connections that mptcpx traces into the same SDK.
type bed struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder

	// conn is the telemetry of the connections: their spans go to tp.
	conn mptcpx.Option

	mu   sync.Mutex
	seen map[trace.SpanID]served // by the server request span
}

// served is what the handler saw of a request.
type served struct {
	remote netip.AddrPort // r.RemoteAddr: the client's end of the connection
	proto  int            // r.ProtoMajor
	tls    bool
}

func newBed(t *testing.T) *bed {
	t.Helper()
	b := &bed{rec: tracetest.NewSpanRecorder(), seen: map[trace.SpanID]served{}}
	b.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(b.rec))
	t.Cleanup(func() { b.tp.Shutdown(context.Background()) })
	b.conn = mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(b.tp))
	return b
}

// listen returns an mptcpx listener on loopback, closed when t ends, whose
// connections are traced with opts (b.conn when there are none).
func (b *bed) listen(t *testing.T, opts ...mptcpx.Option) net.Listener {
	t.Helper()
	testenv.RequireMPTCP(t)
	if len(opts) == 0 {
		opts = []mptcpx.Option{b.conn}
	}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// handler is the server's handler, request spans from otelhttp linked by
// LinkHandler; it answers "ok" and notes what it saw of the request.
func (b *bed) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		remote, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b.mu.Lock()
		b.seen[trace.SpanContextFromContext(r.Context()).SpanID()] = served{remote: remote, proto: r.ProtoMajor, tls: r.TLS != nil}
		b.mu.Unlock()
		io.WriteString(w, "ok")
	})
	return otelhttp.NewHandler(mptcpxotel.LinkHandler(mux), "server",
		otelhttp.WithTracerProvider(b.tp), otelhttp.WithPropagators(propagation.TraceContext{}))
}

// serve serves srv on ln, with ConnContext set, until stopped or t ends.
// stop shuts the server down, which closes its idle connections.
func serve(t *testing.T, srv *http.Server, ln net.Listener) (stop func()) {
	t.Helper()
	srv.ConnContext = mptcpx.ConnContext
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Shutdown(context.Background())
			if err := <-served; err != http.ErrServerClosed {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// transport returns a clone of http.DefaultTransport that dials with an
// mptcpx Dialer, its connections traced with opts (b.conn when there are
// none). Its idle connections are closed when t ends.
func (b *bed) transport(t *testing.T, opts ...mptcpx.Option) *http.Transport {
	if len(opts) == 0 {
		opts = []mptcpx.Option{b.conn}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = mptcpx.NewDialer(nil, opts...).DialContext
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// client returns a client whose request spans come from otelhttp's
// transport around rt (mptcpxotel.LinkTransport's).
func (b *bed) client(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(b.tp), otelhttp.WithPropagators(propagation.TraceContext{})),
		Timeout: time.Minute,
	}
}

// conns counts what a ClientTrace of the caller's own saw of the
// connections its requests got: the trace that LinkTransport adds must
// leave it working.
type conns struct{ got, reused atomic.Int32 }

func (c *conns) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c.got.Add(1)
			if info.Reused {
				c.reused.Add(1)
			}
		},
	})
}

// get sends a GET request to url through c and reads the answer.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || string(body) != "ok") {
		err = &unexpected{resp.Status, string(body)}
	}
	return err
}

type unexpected struct{ status, body string }

func (u *unexpected) Error() string { return "unexpected answer: " + u.status + ": " + u.body }

// connSpans waits until n mptcp.connection spans have ended, and returns
// them.
func (b *bed) connSpans(t *testing.T, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var spans []sdktrace.ReadOnlySpan
		for _, s := range b.rec.Ended() {
			if s.Name() == "mptcp.connection" {
				spans = append(spans, s)
			}
		}
		if len(spans) >= n || time.Now().After(deadline) {
			if len(spans) != n {
				t.Fatalf("%d mptcp.connection spans ended, want %d", len(spans), n)
			}
			return spans
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request is one request as the spans tell it.
type request struct {
	server, client sdktrace.ReadOnlySpan // otelhttp's spans
	served                               // what the handler saw
}

// requests returns the requests otelhttp traced on both sides: each
// server request span that the handler saw, with the client request span
// that is its parent (the W3C context that otelhttp propagates).
func (b *bed) requests(t *testing.T) []request {
	t.Helper()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range b.rec.Ended() {
		byID[s.SpanContext().SpanID()] = s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []request
	for _, s := range b.rec.Ended() {
		if s.SpanKind() != trace.SpanKindServer || s.InstrumentationScope().Name != otelhttp.ScopeName {
			continue
		}
		seen, ok := b.seen[s.SpanContext().SpanID()]
		if !ok {
			t.Fatalf("server request span %v: the handler did not see it", s.SpanContext().SpanID())
		}
		c, ok := byID[s.Parent().SpanID()]
		if !ok || c.SpanKind() != trace.SpanKindClient || c.InstrumentationScope().Name != otelhttp.ScopeName {
			t.Fatalf("server request span %v: parent %v is not an ended otelhttp client span", s.SpanContext().SpanID(), s.Parent().SpanID())
		}
		out = append(out, request{server: s, client: c, served: seen})
	}
	return out
}

// intAttr returns the int value of key among s's attributes, -1 if none.
func intAttr(s sdktrace.ReadOnlySpan, key attribute.Key) int64 {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.AsInt64()
		}
	}
	return -1
}

// connOf returns the one connection span of role among spans whose
// attribute key is port.
func connOf(t *testing.T, spans []sdktrace.ReadOnlySpan, role string, key attribute.Key, port uint16) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	for _, s := range spans {
		if intAttr(s, key) != int64(port) {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "mptcp.role" && kv.Value.AsString() == role {
				if found != nil {
					t.Fatalf("two %s connection spans with %s %d", role, key, port)
				}
				found = s
			}
		}
	}
	if found == nil {
		t.Fatalf("no %s connection span with %s %d", role, key, port)
	}
	return found
}

// checkLinks checks that each request span links to exactly one span,
// without attributes: the connection span of its side, of the connection
// the server saw the request on (the server's span of the connection from
// the client's port, and the client's span of the connection from that
// port). It returns how many requests each connection carried, by the
// client's port.
func checkLinks(t *testing.T, reqs []request, connSpans []sdktrace.ReadOnlySpan) map[uint16]int {
	t.Helper()
	perConn := map[uint16]int{}
	for _, r := range reqs {
		port := r.remote.Port()
		perConn[port]++
		checkLink(t, r.server, connOf(t, connSpans, "server", "network.peer.port", port))
		checkLink(t, r.client, connOf(t, connSpans, "client", "network.local.port", port))
	}
	return perConn
}

func checkLink(t *testing.T, s, conn sdktrace.ReadOnlySpan) {
	t.Helper()
	links := s.Links()
	if len(links) != 1 {
		t.Errorf("%v request span %v: %d links, want 1 (%+v)", s.SpanKind(), s.SpanContext().SpanID(), len(links), links)
		return
	}
	if !links[0].SpanContext.Equal(conn.SpanContext()) {
		t.Errorf("%v request span %v links to %v, want the connection span %v", s.SpanKind(), s.SpanContext().SpanID(),
			links[0].SpanContext.SpanID(), conn.SpanContext().SpanID())
	}
	if len(links[0].Attributes) != 0 {
		t.Errorf("%v request span %v: link attributes %v, want none", s.SpanKind(), s.SpanContext().SpanID(), links[0].Attributes)
	}
}

// selfSigned returns a certificate for 127.0.0.1, valid for an hour, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mptcpx httplinks test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
