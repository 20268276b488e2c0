package mptcpx

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/mptcpx/mptcpx/internal/follow"
)

// Dialer opens Multipath TCP connections. Build one with NewDialer; its
// Dial and DialContext have net.Dialer's signatures, so DialContext can be
// assigned to http.Transport.DialContext, and DialConn returns the *Conn
// itself. The zero Dialer dials as NewDialer(nil) does.
//
// A Dialer is safe for concurrent use.
type Dialer struct {
	d   net.Dialer
	cfg *config // nil: the zero Dialer, which dials with the defaults
}

// NewDialer returns a Dialer that dials like a copy of base, taken now,
// with Multipath TCP requested (net.Dialer.SetMultipathTCP). Every field of
// base applies: Timeout, Deadline, LocalAddr, KeepAlive, KeepAliveConfig,
// Control, ControlContext, Resolver, FallbackDelay. A nil base is a zero
// net.Dialer. Later changes to base do not affect the Dialer.
//
// When the kernel cannot open an MPTCP socket (no CONFIG_MPTCP, or sysctl
// net.mptcp.enabled=0) or the peer does not answer in MPTCP, the connection
// is plain TCP, exactly as with net.Dialer, and its MultipathTCP method
// reports false.
//
// An invalid option is reported by every Dial, DialContext and DialConn.
func NewDialer(base *net.Dialer, opts ...Option) *Dialer {
	d := &Dialer{cfg: newConfig(opts)}
	if base != nil {
		d.d = *base
	}
	d.d.SetMultipathTCP(true)
	return d
}

// defaultDialer is what the zero Dialer, and Dial, DialContext and DialConn
// without options, dial with: a program that dials one connection at a time
// builds no Dialer per call.
var defaultDialer = sync.OnceValue(func() *Dialer { return NewDialer(nil) })

// dialerFor returns the Dialer of the package-level dial functions.
func dialerFor(opts []Option) *Dialer {
	if len(opts) == 0 {
		return defaultDialer()
	}
	return NewDialer(nil, opts...)
}

// Dial connects to address on the named network, which must be "tcp",
// "tcp4" or "tcp6". It is DialContext with context.Background.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on the named network, which must be
// "tcp", "tcp4" or "tcp6", as net.Dialer.DialContext does; ctx bounds the
// whole dial (name resolution included) and, in the instrumentation, is the
// parent of the connection's span. The returned net.Conn is a *Conn.
//
// Any other network is an error naming it, and nothing is opened.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.DialConn(ctx, network, address)
	if err != nil {
		return nil, err // a nil interface, not a nil *Conn in one
	}
	return c, nil
}

// DialConn is DialContext returning the *Conn, as net.DialTCP returns a
// *net.TCPConn.
func (d *Dialer) DialConn(ctx context.Context, network, address string) (*Conn, error) {
	if d.cfg == nil {
		return defaultDialer().DialConn(ctx, network, address)
	}
	if err := d.cfg.err; err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if err := checkNetwork(network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ctx, f := follow.DialStart(ctx, &d.cfg.follow, network, address)
	nc, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		f.DialFailed(err)
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok { // net.Dialer gives *net.TCPConn for every TCP network
		nc.Close()
		err := &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("mptcpx: net.Dialer returned a %T", nc)}
		f.DialFailed(err)
		return nil, err
	}
	return newConn(tc, f), nil
}

// Dial connects to address on the named network ("tcp", "tcp4" or "tcp6")
// with Multipath TCP requested: net.Dial for MPTCP, with options as Listen
// takes them. The returned net.Conn is a *Conn. Where a function of
// net.Dial's exact type is needed, use NewDialer(nil, opts...).Dial.
func Dial(network, address string, opts ...Option) (net.Conn, error) {
	return dialerFor(opts).Dial(network, address)
}

// DialContext is Dial with a context bounding the dial: net.DialContext
// for MPTCP. The returned net.Conn is a *Conn.
func DialContext(ctx context.Context, network, address string, opts ...Option) (net.Conn, error) {
	return dialerFor(opts).DialContext(ctx, network, address)
}

// DialConn is DialContext returning the *Conn, as net.DialTCP returns a
// *net.TCPConn.
func DialConn(ctx context.Context, network, address string, opts ...Option) (*Conn, error) {
	return dialerFor(opts).DialConn(ctx, network, address)
}

// checkNetwork accepts the networks MPTCP runs on: the TCP ones.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("mptcpx: network %q is not supported: Multipath TCP needs \"tcp\", \"tcp4\" or \"tcp6\"", network)
}
