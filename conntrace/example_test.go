package conntrace_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// fallbackLog reports the connections that are plain TCP rather than MPTCP,
// and why. It embeds NopHooks and NopConnHooks: it implements only the
// hooks it uses, and keeps compiling when hooks are added.
type fallbackLog struct{ conntrace.NopHooks }

func (fallbackLog) DialStart(ctx context.Context, d conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, &fallbackConn{peer: d.Address}
}

func (fallbackLog) Accepted(c net.Conn, _ time.Time) conntrace.ConnHooks {
	return &fallbackConn{peer: c.RemoteAddr().String()}
}

// fallbackConn follows one connection.
type fallbackConn struct {
	conntrace.NopConnHooks
	peer string
}

func (c *fallbackConn) Sampled(s *conntrace.Sample) {
	if s.FallbackChanged {
		fmt.Printf("%s: plain TCP (%s)\n", c.peer, s.Fallback)
	}
}

// A Hooks of a program's own, installed with mptcpx.WithHooks:
//
//	ln, err := mptcpx.Listen("tcp", ":8080", mptcpx.WithHooks(fallbackLog{}))
//
// Here the hooks are driven by hand, as the engine calls them for a dial
// whose peer did not answer in MPTCP.
func Example() {
	var h conntrace.Hooks = fallbackLog{}
	now := time.Now()
	_, ch := h.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: "192.0.2.1:443", Time: now})
	ch.Sampled(&conntrace.Sample{Time: now, First: true, Fallback: conntrace.FallbackNotNegotiated, FallbackChanged: true})
	ch.Sampled(&conntrace.Sample{Time: now, Final: true, End: conntrace.EndClose, Fallback: conntrace.FallbackNotNegotiated})
	ch.Closed(now)
	// Output: 192.0.2.1:443: plain TCP (not_negotiated)
}

// counter is a Hooks whose ConnHooks counts the samples of the connection
// it follows and says how many when it closes.
type counter struct{ name string }

func (c counter) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, &connCounter{name: c.name}
}

func (c counter) Accepted(net.Conn, time.Time) conntrace.ConnHooks {
	return &connCounter{name: c.name}
}

type connCounter struct {
	name    string
	samples int
}

func (c *connCounter) DialFailed(error, time.Time)     {}
func (c *connCounter) Established(net.Conn, time.Time) {}
func (c *connCounter) Sampled(*conntrace.Sample)       { c.samples++ }
func (c *connCounter) Closed(time.Time)                { fmt.Printf("%s: %d samples\n", c.name, c.samples) }

// Multiplex combines several Hooks: each is told of every connection, and
// each ConnHooks it returns follows the connection, called in turn. mptcpx
// does this for the OpenTelemetry instrumentation and every
// mptcpx.WithHooks.
func ExampleMultiplex() {
	h := conntrace.Multiplex(counter{"a"}, nil, counter{"b"}) // nil is left out

	now := time.Now()
	_, ch := h.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: "192.0.2.1:443", Time: now})
	ch.Sampled(&conntrace.Sample{Time: now, First: true})
	ch.Sampled(&conntrace.Sample{Time: now, Final: true, End: conntrace.EndClose})
	ch.Closed(now)
	// Output:
	// a: 2 samples
	// b: 2 samples
}

// A FallbackReason's String is the value of the telemetry's
// mptcp.fallback.reason attribute.
func ExampleFallbackReason() {
	for _, r := range []conntrace.FallbackReason{
		conntrace.FallbackNone,
		conntrace.FallbackNotNegotiated,
		conntrace.FallbackMidConnection,
		conntrace.FallbackUnavailable,
	} {
		fmt.Println(r)
	}
	// Output:
	// none
	// not_negotiated
	// mid_connection
	// mptcp_unavailable
}

// An End's String is the value of the telemetry's mptcp.close.reason
// attribute.
func ExampleEnd() {
	fmt.Println(conntrace.EndClose, conntrace.EndClosedUnderneath, conntrace.EndDropped)
	// Output: close closed_underneath dropped
}
