package mptcpx_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/netutil"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// serveAndAsk serves HTTP on ln, whose handler says whether FromContext
// found the connection and whether it is MPTCP, and asks it n times, each on
// a new connection.
func serveAndAsk(t *testing.T, ln net.Listener, n int) []string {
	t.Helper()
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := mptcpx.FromContext(r.Context())
			if !ok {
				io.WriteString(w, "not found")
				return
			}
			mp, _ := c.MultipathTCP()
			if mp {
				io.WriteString(w, "mptcp")
			} else {
				io.WriteString(w, "tcp")
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	var answers []string
	for range n {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: mptcpx.NewDialer(nil).DialContext}}
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers = append(answers, string(b))
	}
	return answers
}

// TestFromContextThroughWrappers: a listener that wraps mptcpx's, as
// netutil.LimitListener does, hands out its own connection type; FromContext
// still finds the *Conn inside.
func TestFromContextThroughWrappers(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range serveAndAsk(t, netutil.LimitListener(ln, 1), 3) {
		if a != "mptcp" {
			t.Errorf("request %d: the handler says %q, want mptcp", i, a)
		}
	}
}

// TestNewListenerFollowsWrapped: NewListener around a listener that wraps
// its connections (netutil.LimitListener around an MPTCP listener) follows
// the TCP connection inside each one: spans and gauges, FromContext in the
// handler, and the wrapper keeps working (its limit is released at Close,
// or the third request would wait for ever).
func TestNewListenerFollowsWrapped(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	inner := testenv.ListenMPTCP(t, "tcp", "")
	ln := mptcpx.NewListener(netutil.LimitListener(inner, 1), telOptions(tel, lifecycleInterval)...)
	for i, a := range serveAndAsk(t, ln, 3) {
		if a != "mptcp" {
			t.Errorf("request %d: the handler says %q, want mptcp", i, a)
		}
	}
	if n := ln.Untracked(); n != 0 {
		t.Errorf("Untracked() = %d, want 0", n)
	}
	if spans := waitSpans(t, tel, 3, 5*time.Second); len(tel.Spans(oteltest.RoleServer)) != 3 {
		t.Errorf("%d server spans for 3 connections (%d spans in all)", len(tel.Spans(oteltest.RoleServer)), len(spans))
	}
	tel.CheckClosedGauges(t)
}

// TestNewListenerCountsUntracked: a TLS listener keeps the TCP connection
// in an unexported field, out of NewListener's reach. Its connections are
// passed through and counted by Untracked, never silently lost.
func TestNewListenerCountsUntracked(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := mptcpx.NewListener(tls.NewListener(inner, &tls.Config{}))
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, ok := c.(*tls.Conn); !ok {
		t.Errorf("Accept returned a %T, want the *tls.Conn unchanged", c)
	}
	if n := ln.Untracked(); n != 1 {
		t.Errorf("Untracked() = %d, want 1", n)
	}
}
