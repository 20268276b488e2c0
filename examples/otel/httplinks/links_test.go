package httplinks

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// scenario is HTTP traffic to one server from clients that each have a
// transport, and so a connection, of their own.
type scenario struct {
	clients  int  // each with a connection of its own, all open at once
	requests int  // per client; the first dials, the others reuse its connection
	parallel bool // after the first, a client's requests go all at once

	proto  int                             // the HTTP major version the handler must see
	tls    bool                            // the server and the clients speak TLS
	server func(*http.Server)              // sets the server's protocols
	client func(*http.Transport)           // sets the clients' protocols and TLS
	wrap   func(net.Listener) net.Listener // wraps the server's listener (TLS)

	// unlinked: the connections are not mptcpx's (plain), or their spans do
	// not record (with connOpts): the request spans must have no link.
	unlinked bool
	plain    bool
	connOpts []mptcpx.Option // the connections' telemetry; nil: the bed's
}

// run runs sc and checks the links of every request span: to the
// connection span of its side, of the connection the request went over,
// or to nothing when sc is unlinked.
func run(t *testing.T, sc scenario) {
	testenv.CheckSockets(t)
	b := newBed(t)
	var ln net.Listener
	if sc.plain {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	} else {
		ln = b.listen(t, sc.connOpts...)
	}
	url := "http://" + ln.Addr().String() + "/"
	if sc.wrap != nil {
		ln = sc.wrap(ln)
	}
	if sc.tls {
		url = "https://" + ln.Addr().String() + "/"
	}
	srv := &http.Server{Handler: b.handler()}
	if sc.server != nil {
		sc.server(srv)
	}
	stop := serve(t, srv, ln)

	counts := make([]conns, sc.clients)
	clients := make([]*http.Client, sc.clients)
	transports := make([]*http.Transport, sc.clients)
	for i := range clients {
		var tr *http.Transport
		if sc.plain {
			tr = http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(tr.CloseIdleConnections)
		} else {
			tr = b.transport(t, sc.connOpts...)
		}
		if sc.client != nil {
			sc.client(tr)
		}
		clients[i], transports[i] = b.client(mptcpxotel.LinkTransport(tr)), tr
		ctx := counts[i].trace(context.Background())
		if err := get(ctx, clients[i], url); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range sc.requests - 1 {
			if !sc.parallel {
				if err := get(ctx, clients[i], url); err != nil {
					t.Fatal(err)
				}
				continue
			}
			wg.Go(func() {
				if err := get(ctx, clients[i], url); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	// Close the clients' connections (with their transports: otelhttp's
	// does not pass CloseIdleConnections on), then the server's: every
	// connection span ends.
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	stop()

	for i := range counts {
		if got, reused := counts[i].got.Load(), counts[i].reused.Load(); got != int32(sc.requests) || reused != int32(sc.requests-1) {
			t.Errorf("client %d: its own ClientTrace saw %d connections, %d reused; want %d and %d", i, got, reused, sc.requests, sc.requests-1)
		}
	}
	reqs := b.requests(t)
	if len(reqs) != sc.clients*sc.requests {
		t.Fatalf("%d requests traced on both sides, want %d", len(reqs), sc.clients*sc.requests)
	}
	for _, r := range reqs {
		if r.proto != sc.proto || r.tls != sc.tls {
			t.Fatalf("the handler saw HTTP/%d, TLS %v; want HTTP/%d, TLS %v", r.proto, r.tls, sc.proto, sc.tls)
		}
	}
	if sc.unlinked {
		for _, r := range reqs {
			for _, s := range []sdktrace.ReadOnlySpan{r.server, r.client} {
				if l := s.Links(); len(l) != 0 {
					t.Errorf("%v request span %v: %d links, want none (%+v)", s.SpanKind(), s.SpanContext().SpanID(), len(l), l)
				}
			}
		}
		b.connSpans(t, 0)
		return
	}
	perConn := checkLinks(t, reqs, b.connSpans(t, 2*sc.clients))
	if len(perConn) != sc.clients {
		t.Errorf("the requests came on %d connections, want %d: %v", len(perConn), sc.clients, perConn)
	}
	for port, n := range perConn {
		if n != sc.requests {
			t.Errorf("the connection from port %d carried %d requests, want %d", port, n, sc.requests)
		}
	}
}

// TestHTTP1: each request of a keep-alive HTTP/1.1 connection links, on the
// server, to the server's span of that connection, and on the client,
// to the client's span of it, the first request (which dialed) and those
// the transport sent on it from its idle pool alike; the requests of a
// second connection link to its spans.
func TestHTTP1(t *testing.T) {
	run(t, scenario{clients: 2, requests: 4, proto: 1})
}

// TestHTTP2: many concurrent requests on one unencrypted HTTP/2 connection
// (h2c, prior knowledge) link to the same connection span on each side.
func TestHTTP2(t *testing.T) {
	run(t, scenario{clients: 2, requests: 16, parallel: true, proto: 2,
		server: func(srv *http.Server) {
			var p http.Protocols
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			srv.Protocols = &p
		},
		client: func(tr *http.Transport) {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			tr.Protocols = &p
		},
	})
}

// TestTLS: over TLS, where the server's connection is a *tls.Conn around
// the *mptcpx.Conn and so is the one the client's transport reports, the
// links are found all the same, in HTTP/2 (negotiated by ALPN) and in
// HTTP/1.1.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	wrap := func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	}
	t.Run("HTTP/2", func(t *testing.T) {
		run(t, scenario{clients: 2, requests: 8, parallel: true, proto: 2, tls: true, wrap: wrap,
			client: func(tr *http.Transport) { tr.TLSClientConfig = &tls.Config{RootCAs: pool} },
		})
	})
	t.Run("HTTP/1.1", func(t *testing.T) {
		run(t, scenario{clients: 2, requests: 3, proto: 1, tls: true, wrap: wrap,
			client: func(tr *http.Transport) {
				tr.TLSClientConfig = &tls.Config{RootCAs: pool}
				var p http.Protocols
				p.SetHTTP1(true)
				tr.Protocols = &p
			},
		})
	})
}

// TestNoLink: request spans get no link, and requests are served as
// without LinkHandler and LinkTransport, when the connections are not
// mptcpx's, when mptcpx traces them with no telemetry, and when their
// connection spans do not record.
func TestNoLink(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		run(t, scenario{clients: 1, requests: 2, proto: 1, plain: true, unlinked: true})
	})
	t.Run("WithoutTelemetry", func(t *testing.T) {
		run(t, scenario{clients: 1, requests: 2, proto: 1, unlinked: true, connOpts: []mptcpx.Option{mptcpx.WithoutTelemetry()}})
	})
	t.Run("not sampled", func(t *testing.T) {
		never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
		defer never.Shutdown(context.Background())
		run(t, scenario{clients: 1, requests: 2, proto: 1, unlinked: true,
			connOpts: []mptcpx.Option{mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(never))}})
	})
}

// TestNil: LinkHandler(nil) serves with http.DefaultServeMux and
// LinkTransport(nil) sends with http.DefaultTransport, behind otelhttp as
// anywhere, and its CloseIdleConnections closes the default transport's
// idle connections.
func TestNil(t *testing.T) {
	testenv.CheckSockets(t)
	b := newBed(t)
	w := httptest.NewRecorder()
	otelhttp.NewHandler(mptcpxotel.LinkHandler(nil), "nil", otelhttp.WithTracerProvider(b.tp)).
		ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("LinkHandler(nil) behind otelhttp: %d, want DefaultServeMux's 404", w.Code)
	}
	b.rec.Reset() // the span of that request, which the bed's handler did not see

	srv := httptest.NewServer(b.handler())
	defer srv.Close()
	lt := mptcpxotel.LinkTransport(nil)
	closeIdle := lt.(interface{ CloseIdleConnections() }).CloseIdleConnections
	defer closeIdle()
	client := b.client(lt)
	var c conns
	ctx := c.trace(context.Background())
	for i := range 3 {
		if err := get(ctx, client, srv.URL); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			closeIdle()
		}
	}
	if c.got.Load() != 3 || c.reused.Load() != 1 {
		t.Errorf("GotConn %d times, %d reused; want 3 and 1: the second request reuses the first one's connection, the third dials after CloseIdleConnections", c.got.Load(), c.reused.Load())
	}
	for _, r := range b.requests(t) {
		if l := r.client.Links(); len(l) != 0 {
			t.Errorf("client request span on a connection of http.DefaultTransport: %d links", len(l))
		}
	}
}
