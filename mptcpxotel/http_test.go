package mptcpxotel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// wrapper stands for a connection wrapper with a NetConn method, as
// *tls.Conn is.
type wrapper struct{ net.Conn }

func (w wrapper) NetConn() net.Conn { return w.Conn }

// TestHTTP serves HTTP over an mptcpx listener with ConnContext and sends a
// request through an mptcpx dialer: the request's span is the parent of the
// client's connection span, and the handler reaches its connection, the
// connection's MPTCP state and the server's connection span.
func TestHTTP(t *testing.T) {
	e := newEnv(t)
	ln := listen(t, e.tracer)

	type seen struct {
		conn   net.Conn
		span   trace.SpanContext
		viaTLS trace.SpanContext
		mptcp  bool
		err    error
	}
	seenc := make(chan seen, 1)
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var s seen
			mc, ok := mptcpx.FromContext(r.Context())
			if ok {
				s.conn = mc
				s.span = mptcpxotel.ConnSpanContext(mc)
				s.viaTLS = mptcpxotel.ConnSpanContext(wrapper{mc})
				info, err := mc.Info()
				s.err = err
				s.mptcp = err == nil && info.MPTCP
				if !mptcpxotel.ConnSpanContext(mc.NetConn()).Equal(trace.SpanContext{}) {
					s.err = fmt.Errorf("ConnSpanContext found a span for the inner *net.TCPConn, which no hook follows")
				}
			}
			seenc <- s
			io.WriteString(w, "ok")
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	tr := &http.Transport{DialContext: dialer(e.tracer).DialContext}
	ctx, req := e.tp.Tracer("test").Start(context.Background(), "GET")
	r, err := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req.End()
	s := <-seenc
	// The transport returns the connection to its idle pool on its own
	// goroutine, after the body is read: close idle connections until the
	// client's connection span has ended, and the server's, which ends
	// once the server has seen the client close.
	for range 500 {
		tr.CloseIdleConnections()
		if len(e.spans(t)) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Shutdown(context.Background())
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}

	if _, ok := s.conn.(*mptcpx.Conn); !ok {
		t.Fatalf("FromContext in the handler: %T, want *mptcpx.Conn", s.conn)
	}
	if s.err != nil || !s.mptcp {
		t.Errorf("Info in the handler: MPTCP %v, %v", s.mptcp, s.err)
	}
	cs, ss := e.spanOf(t, "client"), e.spanOf(t, "server")
	if cs.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Errorf("client connection span's parent %v, want the request span %v", cs.Parent().SpanID(), req.SpanContext().SpanID())
	}
	if !s.span.IsValid() || !s.span.Equal(ss.SpanContext()) || !s.viaTLS.Equal(ss.SpanContext()) {
		t.Errorf("ConnSpanContext in the handler %v (through a wrapper %v), want the server's connection span %v",
			s.span.SpanID(), s.viaTLS.SpanID(), ss.SpanContext().SpanID())
	}
	// Closed: no longer reachable.
	if sc := mptcpxotel.ConnSpanContext(s.conn); sc.IsValid() {
		t.Errorf("ConnSpanContext after Close: %v", sc.SpanID())
	}
}

// TestConnFromContext: an empty context holds no connection.
func TestConnFromContext(t *testing.T) {
	if c, ok := mptcpx.FromContext(context.Background()); ok || c != nil {
		t.Errorf("FromContext(Background) = %v, %v", c, ok)
	}
	if sc := mptcpxotel.ConnSpanContext(nil); sc.IsValid() {
		t.Error("ConnSpanContext(nil) is valid")
	}
}
