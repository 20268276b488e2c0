package mptcpxgrpc

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/mptcpx/mptcpx"
)

// NewCredentials returns transport credentials that do what inner does and
// also hand the *mptcpx.Conn under each connection to the RPCs it carries.
//
// grpc-go runs the credentials' handshake on every new connection, with the
// raw net.Conn that the dialer returned or the listener accepted: the one
// place where grpc-go lets code outside it see the connection itself.
// Afterwards RPCs see only a peer.Peer, with the addresses and the AuthInfo
// the handshake returned. So the handshakes of the returned credentials run
// inner's handshake unchanged (the TLS handshake, or nothing for
// insecure.NewCredentials()) on the same raw connection, keep the
// connection inner returns (a *tls.Conn over the *mptcpx.Conn, or the
// *mptcpx.Conn itself), and return an AuthInfo that holds both inner's
// AuthInfo and the *mptcpx.Conn. ConnFromContext and ConnFromPeer read it
// back, and SpanLinks uses it to link RPC spans to connection spans.
//
// The *mptcpx.Conn is found under the raw connection as mptcpx.FromContext
// finds it: the raw connection itself when dialed with a mptcpx Dialer (see
// WithDialer) or accepted by a mptcpx Listener, or the connection a wrapper
// returns from NetConn or embeds. When there is none (a plain net.Listener,
// grpc-go's own dialer) the handshakes return inner's AuthInfo untouched,
// and a failed handshake returns inner's error as it is.
//
// inner is insecure.NewCredentials() for plaintext, or
// credentials.NewTLS(cfg) (or NewClientTLSFromCert, NewServerTLSFromCert,
// ...) for TLS. With a nil inner every handshake fails with ErrNoInner,
// which grpc-go reports on the RPCs: nil never means plaintext.
func NewCredentials(inner credentials.TransportCredentials) credentials.TransportCredentials {
	if inner == nil {
		return nilCredentials{}
	}
	return &transportCredentials{inner: inner}
}

// ErrNoInner is the error of every handshake of NewCredentials(nil).
var ErrNoInner = errors.New("mptcpxgrpc: NewCredentials(nil): no inner transport credentials (pass insecure.NewCredentials() or TLS credentials)")

// nilCredentials are NewCredentials(nil): they refuse every connection.
type nilCredentials struct{}

func (nilCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, ErrNoInner
}

func (nilCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, ErrNoInner
}

func (nilCredentials) Info() credentials.ProtocolInfo          { return credentials.ProtocolInfo{} }
func (nilCredentials) Clone() credentials.TransportCredentials { return nilCredentials{} }
func (nilCredentials) OverrideServerName(string) error         { return ErrNoInner }

// transportCredentials wraps inner. It is safe for concurrent use as long
// as inner is, which grpc-go requires of all transport credentials.
type transportCredentials struct {
	inner credentials.TransportCredentials
}

// ClientHandshake runs inner's client handshake on rawConn, for the server
// named authority, and adds the *mptcpx.Conn under rawConn to its AuthInfo.
func (c *transportCredentials) ClientHandshake(ctx context.Context, authority string, rawConn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	mc, _ := connUnder(rawConn) // before the handshake, which may close rawConn
	conn, ai, err := c.inner.ClientHandshake(ctx, authority, rawConn)
	if err != nil {
		return conn, ai, err
	}
	return conn, withConn(ai, mc), nil
}

// ServerHandshake runs inner's server handshake on rawConn and adds the
// *mptcpx.Conn under rawConn to its AuthInfo.
func (c *transportCredentials) ServerHandshake(rawConn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	mc, _ := connUnder(rawConn)
	conn, ai, err := c.inner.ServerHandshake(rawConn)
	if err != nil {
		return conn, ai, err
	}
	return conn, withConn(ai, mc), nil
}

// Info returns inner's protocol information. grpc-go reads its
// SecurityProtocol: "insecure" makes it refuse per-RPC credentials that
// require transport security, as it would without the wrapper.
func (c *transportCredentials) Info() credentials.ProtocolInfo { return c.inner.Info() }

// Clone returns a wrapper around a clone of inner.
func (c *transportCredentials) Clone() credentials.TransportCredentials {
	return &transportCredentials{inner: c.inner.Clone()}
}

// OverrideServerName passes name on to inner. grpc-go has deprecated the
// method, and calls it only where a program does.
func (c *transportCredentials) OverrideServerName(name string) error {
	//lint:ignore SA1019 the interface still has the method: passing it on keeps inner's behaviour.
	return c.inner.OverrideServerName(name)
}

// connUnder returns the *mptcpx.Conn that c is or wraps, looking through
// wrappers as mptcpx.FromContext does (NetConn methods and embedded
// net.Conn fields); the package has no other entry to that lookup.
func connUnder(c net.Conn) (*mptcpx.Conn, bool) {
	if mc, ok := c.(*mptcpx.Conn); ok {
		return mc, true
	}
	return mptcpx.FromContext(mptcpx.ConnContext(context.Background(), c))
}
