package mptcpxotel_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// The tests of LinkHandler and LinkTransport here stand in for otelhttp,
// which the library's module does not depend on: spanHandler and
// spanTransport start a span around what they wrap, as otelhttp's handler
// and transport do. The tests with otelhttp itself, HTTP/2 and TLS are in
// the examples/otel module (package httplinks).

// spanHandler starts a span named name for each request and serves it
// with h, the span in the request's context.
func spanHandler(tp trace.TracerProvider, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("test").Start(r.Context(), name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// spanTransport starts a span named name for each request and sends it
// through rt, the span in the request's context.
type spanTransport struct {
	tp   trace.TracerProvider
	name string
	rt   http.RoundTripper
}

func (t spanTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := t.tp.Tracer("test").Start(r.Context(), t.name, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return t.rt.RoundTrip(r.WithContext(ctx))
}

// answerOK answers "ok".
var answerOK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })

// serveHTTP serves h on ln until t ends.
func serveHTTP(t *testing.T, ln net.Listener, srv *http.Server) {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
}

// get sends n GET requests to url, one after the other, through c, and
// reads each response in full.
func get(t *testing.T, c *http.Client, url string, n int) {
	t.Helper()
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
	}
}

// mptcpxTransport returns a clone of http.DefaultTransport that dials with
// an mptcpx Dialer traced by tr.
func mptcpxTransport(tr *mptcpxotel.Tracer) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer(tr).DialContext
	return t
}

// closeUntilEnded closes tr's idle connections until n connection spans
// have ended: the transport puts a connection back in its idle pool on a
// goroutine of its own, after the body is read.
func closeUntilEnded(t *testing.T, e *env, tr interface{ CloseIdleConnections() }, n int) {
	t.Helper()
	for range 500 {
		tr.CloseIdleConnections()
		if len(e.spans(t)) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d connection spans ended, want %d", len(e.spans(t)), n)
}

// named returns the ended spans named name.
func (e *env) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// wantLinks checks that each of spans has exactly one link, without
// attributes, to conn.
func wantLinks(t *testing.T, spans []sdktrace.ReadOnlySpan, n int, conn sdktrace.ReadOnlySpan) {
	t.Helper()
	if len(spans) != n {
		t.Fatalf("%d request spans, want %d", len(spans), n)
	}
	for _, s := range spans {
		links := s.Links()
		if len(links) != 1 {
			t.Errorf("%s span %v: %d links, want 1 (%+v)", s.Name(), s.SpanContext().SpanID(), len(links), links)
			continue
		}
		if !links[0].SpanContext.Equal(conn.SpanContext()) {
			t.Errorf("%s span %v links to %v, want the connection span %v", s.Name(), s.SpanContext().SpanID(),
				links[0].SpanContext.SpanID(), conn.SpanContext().SpanID())
		}
		if len(links[0].Attributes) != 0 {
			t.Errorf("%s span %v: link attributes %v, want none", s.Name(), s.SpanContext().SpanID(), links[0].Attributes)
		}
	}
}

// wantNoLinks checks that none of spans, n of them, has a link.
func wantNoLinks(t *testing.T, spans []sdktrace.ReadOnlySpan, n int) {
	t.Helper()
	if len(spans) != n {
		t.Fatalf("%d request spans, want %d", len(spans), n)
	}
	for _, s := range spans {
		if l := s.Links(); len(l) != 0 {
			t.Errorf("%s span %v: %d links, want none", s.Name(), s.SpanContext().SpanID(), len(l))
		}
	}
}

// TestLinkHandler: requests on one keep-alive connection all link to the
// server's span of that connection, from the span of the handler that
// LinkHandler is placed in. Placed outside it, or without ConnContext, it
// links nothing.
func TestLinkHandler(t *testing.T) {
	cases := []struct {
		name        string
		handler     func(*env) http.Handler
		connContext bool
		linked      bool
	}{
		{"inside", func(e *env) http.Handler { return spanHandler(e.tp, "request", mptcpxotel.LinkHandler(answerOK)) }, true, true},
		{"outside", func(e *env) http.Handler { return mptcpxotel.LinkHandler(spanHandler(e.tp, "request", answerOK)) }, true, false},
		{"no ConnContext", func(e *env) http.Handler { return spanHandler(e.tp, "request", mptcpxotel.LinkHandler(answerOK)) }, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testenv.CheckSockets(t)
			e := newEnv(t)
			ln := listen(t, e.tracer)
			srv := &http.Server{Handler: c.handler(e)}
			if c.connContext {
				srv.ConnContext = mptcpx.ConnContext
			}
			serveHTTP(t, ln, srv)
			tr := mptcpxTransport(e.tracer)
			get(t, &http.Client{Transport: tr}, "http://"+ln.Addr().String()+"/", 3)
			closeUntilEnded(t, e, tr, 2)
			srv.Shutdown(context.Background())
			if c.linked {
				wantLinks(t, e.named("request"), 3, e.spanOf(t, "server"))
			} else {
				wantNoLinks(t, e.named("request"), 3)
			}
		})
	}
}

// TestLinkTransport: the request spans of the RoundTripper LinkTransport
// is placed in link to the client's span of the connection that carried
// them, the one dialed for the first request and, from the idle pool, the
// same for the next ones. A ClientTrace already in the request's context
// still sees its hooks called.
func TestLinkTransport(t *testing.T) {
	testenv.CheckSockets(t)
	e := newEnv(t)
	ln := listen(t, e.tracer)
	serveHTTP(t, ln, &http.Server{Handler: answerOK})
	tr := mptcpxTransport(e.tracer)
	client := &http.Client{Transport: spanTransport{e.tp, "request", mptcpxotel.LinkTransport(tr)}}

	var got, reused atomic.Int32
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			got.Add(1)
			if info.Reused {
				reused.Add(1)
			}
		},
	})
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got.Load() != 3 || reused.Load() != 2 {
		t.Errorf("the context's own ClientTrace: GotConn %d times, %d reused; want 3 and 2", got.Load(), reused.Load())
	}
	// client.CloseIdleConnections goes through spanTransport, which
	// does not pass it on: close through LinkTransport's.
	closeUntilEnded(t, e, mptcpxotel.LinkTransport(tr).(interface{ CloseIdleConnections() }), 2)
	wantLinks(t, e.named("request"), 3, e.spanOf(t, "client"))
}

// TestLinkPlainTCP: on connections that mptcpx does not follow, neither
// side links, and both serve the requests.
func TestLinkPlainTCP(t *testing.T) {
	testenv.CheckSockets(t)
	e := newEnv(t)
	srv := httptest.NewUnstartedServer(spanHandler(e.tp, "server request", mptcpxotel.LinkHandler(answerOK)))
	srv.Config.ConnContext = mptcpx.ConnContext
	srv.Start()
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	get(t, &http.Client{Transport: spanTransport{e.tp, "client request", mptcpxotel.LinkTransport(tr)}}, srv.URL, 2)
	wantNoLinks(t, e.named("server request"), 2)
	wantNoLinks(t, e.named("client request"), 2)
}

// countingTransport counts its calls.
type countingTransport struct{ trips, closes atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

func (c *countingTransport) CloseIdleConnections() { c.closes.Add(1) }

// TestLinkNil: LinkHandler(nil) serves with http.DefaultServeMux, and
// LinkTransport(nil) sends with http.DefaultTransport, as http.Server and
// http.Client do with nil; CloseIdleConnections reaches the wrapped
// RoundTripper, and one that has no such method is left alone; a request
// whose context holds no span passes straight through.
func TestLinkNil(t *testing.T) {
	w := httptest.NewRecorder()
	mptcpxotel.LinkHandler(nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("LinkHandler(nil): %d, want DefaultServeMux's 404", w.Code)
	}
	if rt := mptcpxotel.WrappedTransport(mptcpxotel.LinkTransport(nil)); rt != http.DefaultTransport {
		t.Errorf("LinkTransport(nil) wraps %T, want http.DefaultTransport", rt)
	}
	var c countingTransport
	lt := mptcpxotel.LinkTransport(&c)
	lt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if c.closes.Load() != 1 {
		t.Errorf("CloseIdleConnections reached the wrapped transport %d times, want 1", c.closes.Load())
	}
	mptcpxotel.LinkTransport(http.NewFileTransport(http.Dir("."))).(interface{ CloseIdleConnections() }).CloseIdleConnections()
	req := httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if _, err := lt.RoundTrip(req); err != nil || c.trips.Load() != 1 {
		t.Errorf("RoundTrip without a span: %v, %d trips", err, c.trips.Load())
	}
}

// recordingSpan is a span that records nothing but says it does, and
// counts its links: it shows what LinkHandler and LinkTransport allocate
// of their own.
type recordingSpan struct {
	trace.Span
	links atomic.Int32
}

func (*recordingSpan) IsRecording() bool            { return true }
func (s *recordingSpan) AddLink(trace.Link)         { s.links.Add(1) }
func (s *recordingSpan) End(...trace.SpanEndOption) {}

// gotConnTransport reports the connection c to the request's ClientTrace,
// as http.Transport does, and answers with resp.
type gotConnTransport struct {
	c    net.Conn
	resp *http.Response
}

func (g gotConnTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if ct := httptrace.ContextClientTrace(r.Context()); ct != nil && ct.GotConn != nil {
		ct.GotConn(httptrace.GotConnInfo{Conn: g.c, Reused: true})
	}
	return g.resp, nil
}

// TestLinkAllocs: LinkHandler allocates nothing of its own per request;
// LinkTransport allocates four objects for a request whose span records
// (the ClientTrace, its hook, the context, the request's copy) and none for
// one whose span does not.
func TestLinkAllocs(t *testing.T) {
	e := newEnv(t)
	ln := listen(t, e.tracer)
	accepted := acceptOne(t, ln)
	client, err := dialer(e.tracer).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.FailNow()
	}
	defer server.Close()

	span := &recordingSpan{Span: noop.Span{}}
	ctx := trace.ContextWithSpan(mptcpx.ConnContext(context.Background(), server), span)
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	h := mptcpxotel.LinkHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var calls int32
	if n := testenv.SteadyAllocs(100, func() { calls++; h.ServeHTTP(nil, req) }); n != 0 {
		t.Errorf("LinkHandler: %v allocations per request, want 0", n)
	}
	if span.links.Load() != calls {
		t.Errorf("LinkHandler: %d links for %d requests", span.links.Load(), calls)
	}

	span.links.Store(0)
	rt := mptcpxotel.LinkTransport(gotConnTransport{client, &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}})
	creq := httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil).WithContext(trace.ContextWithSpan(context.Background(), span))
	calls = 0
	if n := testenv.SteadyAllocs(100, func() { calls++; rt.RoundTrip(creq) }); n > 4 {
		t.Errorf("LinkTransport: %v allocations per request, want at most 4", n)
	}
	if span.links.Load() != calls {
		t.Errorf("LinkTransport: %d links for %d requests", span.links.Load(), calls)
	}
	plain := httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if n := testenv.SteadyAllocs(100, func() { rt.RoundTrip(plain) }); n != 0 {
		t.Errorf("LinkTransport, no span: %v allocations per request, want 0", n)
	}
}
