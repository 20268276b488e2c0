package mptcpx

import (
	"context"
	"fmt"
	"net"
)

// Dialer opens Multipath TCP connections. Build one with NewDialer; its
// Dial and DialContext have net.Dialer's signatures, so DialContext can be
// assigned to http.Transport.DialContext.
//
// A Dialer is safe for concurrent use.
type Dialer struct {
	d   net.Dialer
	cfg *config
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
// An invalid option is reported by every Dial and DialContext.
func NewDialer(base *net.Dialer, opts ...Option) *Dialer {
	d := &Dialer{cfg: newConfig(opts)}
	if base != nil {
		d.d = *base
	}
	d.d.SetMultipathTCP(true)
	return d
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
	if err := d.cfg.err; err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if err := checkNetwork(network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ctx, tr := d.cfg.dialStart(ctx, network, address)
	nc, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		tr.dialFailed(err)
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok { // net.Dialer gives *net.TCPConn for every TCP network
		nc.Close()
		err := &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("mptcpx: net.Dialer returned a %T", nc)}
		tr.dialFailed(err)
		return nil, err
	}
	c := newConn(tc)
	c.follower = tr
	tr.established(c, tc)
	return c, nil
}

// Dial connects to address on the named network ("tcp", "tcp4" or "tcp6")
// with Multipath TCP requested: net.Dial for MPTCP, with options as Listen
// takes them. The returned net.Conn is a *Conn. Where a function of
// net.Dial's exact type is needed, use NewDialer(nil, opts...).Dial.
func Dial(network, address string, opts ...Option) (net.Conn, error) {
	return NewDialer(nil, opts...).Dial(network, address)
}

// DialContext is Dial with a context bounding the dial: net.DialContext
// for MPTCP. The returned net.Conn is a *Conn.
func DialContext(ctx context.Context, network, address string, opts ...Option) (net.Conn, error) {
	return NewDialer(nil, opts...).DialContext(ctx, network, address)
}

// checkNetwork accepts the networks MPTCP runs on: the TCP ones.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("mptcpx: network %q is not supported: Multipath TCP needs \"tcp\", \"tcp4\" or \"tcp6\"", network)
}
