package mptcpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/internal/connwrap"
	"github.com/mptcpx/mptcpx/internal/follow"
)

// Listener wraps a net.Listener so that the TCP connections it accepts are
// *Conn values. Listen and NewListener return one. The zero Listener wraps
// nothing: its Accept returns an error.
//
// A Listener is safe for concurrent use.
type Listener struct {
	untracked atomic.Uint64 // see Untracked

	inner net.Listener     // nil: the zero Listener
	tcp   *net.TCPListener // inner, when it is one: Accept skips an interface conversion
	cfg   *config
	// plain: the inner listener is known to be a plain TCP socket, so its
	// plain connections are not the clients' doing (see detectFallback).
	plain bool
}

// Listen announces on the local network address, as net.Listen does, with
// Multipath TCP requested (net.ListenConfig.SetMultipathTCP): the listener
// accepts MPTCP and plain TCP clients alike. network must be "tcp", "tcp4"
// or "tcp6". Where the kernel cannot open an MPTCP socket (no CONFIG_MPTCP,
// or sysctl net.mptcp.enabled=0) the listener is plain TCP.
//
// Serve it with http.Server.Serve or any server that takes a net.Listener.
func Listen(network, address string, opts ...Option) (*Listener, error) {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: cfg.err}
	}
	if err := checkNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	return newListener(ln, cfg), nil
}

// NewListener wraps any listener: one built with net.ListenConfig (ask it
// for MPTCP with SetMultipathTCP), one inherited from systemd, a TLS
// listener's inner listener, and so on. Accept returns a *Conn for every
// *net.TCPConn the inner listener accepts, MPTCP or not (plain TCP
// connections are reported as fallbacks).
//
// A listener that itself wraps connections (netutil.LimitListener, say)
// returns its own connection type: Accept follows the *net.TCPConn inside
// when the wrapper embeds it as an exported net.Conn field, by putting a
// *Conn in its place, and returns the wrapper, which keeps working as
// before (its Close now takes the last sample). A connection it cannot
// follow that way (no *net.TCPConn found, or one the wrapper keeps in an
// unexported field, as *tls.Conn does) is passed through unchanged and
// counted by Untracked. Wrap the TCP listener, then TLS on top
// (tls.NewListener(mptcpx.Listen(...))), to follow TLS connections.
//
// An invalid option, or a nil inner listener, is reported by every Accept.
func NewListener(inner net.Listener, opts ...Option) *Listener {
	cfg := newConfig(opts)
	if inner == nil {
		inner = nilListener{}
		if cfg.err == nil {
			cfg.err = errNilListener
		}
	}
	return newListener(inner, cfg)
}

var errNilListener = errors.New("mptcpx: NewListener(nil): there is no listener to wrap")

// nilListener stands in for the nil listener given to NewListener, so that
// every method of the Listener answers with an error instead of
// dereferencing nil.
type nilListener struct{}

func (nilListener) Accept() (net.Conn, error) { return nil, errNilListener }
func (nilListener) Close() error              { return errNilListener }
func (nilListener) Addr() net.Addr            { return nil }

func newListener(inner net.Listener, cfg *config) *Listener {
	l := &Listener{inner: inner, cfg: cfg}
	l.tcp, _ = inner.(*net.TCPListener)
	l.plain = plainTCPListener(inner)
	return l
}

// Accept waits for and returns the next connection: a *Conn when the inner
// listener returns a *net.TCPConn, any other connection unchanged.
func (l *Listener) Accept() (net.Conn, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if l.tcp != nil {
		return l.AcceptConn()
	}
	nc, err := l.inner.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		return l.follow(tc), nil
	}
	return l.followInside(nc), nil
}

// AcceptConn waits for and returns the next connection as a *Conn, as
// net.TCPListener.AcceptTCP does. It needs a TCP listener inside (Listen's,
// or one given to NewListener): with another, whose connections may come
// wrapped, it fails with an error wrapping errors.ErrUnsupported, and
// Accept is the way.
func (l *Listener) AcceptConn() (*Conn, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if l.tcp == nil {
		return nil, l.unsupported("accept", "AcceptTCP")
	}
	tc, err := l.tcp.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return l.follow(tc), nil
}

// check reports why the Listener cannot accept: it is the zero Listener, or
// was built with an invalid option or a nil inner listener.
func (l *Listener) check() error {
	if l.inner == nil {
		return &net.OpError{Op: "accept", Net: "tcp", Err: errZeroListener}
	}
	if err := l.cfg.err; err != nil {
		return l.opError("accept", err)
	}
	return nil
}

var errZeroListener = errors.New("mptcpx: the zero Listener wraps no listener: use Listen or NewListener")

// follow returns tc as a *Conn, followed from now on.
func (l *Listener) follow(tc *net.TCPConn) *Conn {
	return newConn(tc, follow.Accepted(&l.cfg.follow, tc, l.plain))
}

// followInside follows the *net.TCPConn inside the wrapper nc, replacing it
// with a *Conn where the wrapper holds it in an exported embedded net.Conn
// field, and returns nc. What it cannot follow it counts in untracked.
func (l *Listener) followInside(nc net.Conn) net.Conn {
	c := nc
	for range connwrap.MaxDepth {
		inner, slot := connwrap.Unwrap(c)
		switch inner := inner.(type) {
		case nil:
			l.untracked.Add(1)
			return nc
		case *Conn:
			return nc // already followed
		case *net.TCPConn:
			if !slot.IsValid() || !slot.CanSet() {
				l.untracked.Add(1)
				return nc
			}
			slot.Set(reflect.ValueOf(net.Conn(l.follow(inner))))
			return nc
		}
		c = inner
	}
	l.untracked.Add(1)
	return nc
}

// Untracked returns how many accepted connections the Listener passed
// through without following them: connections that are not TCP, or that a
// wrapping listener holds so that they cannot be reached (see NewListener).
// They have no span and no metrics.
func (l *Listener) Untracked() uint64 { return l.untracked.Load() }

// Close closes the inner listener. Connections already accepted stay open.
func (l *Listener) Close() error {
	if l.inner == nil {
		return &net.OpError{Op: "close", Net: "tcp", Err: errZeroListener}
	}
	return l.inner.Close()
}

// Addr returns the inner listener's address; nil for the zero Listener.
func (l *Listener) Addr() net.Addr {
	if l.inner == nil {
		return nil
	}
	return l.inner.Addr()
}

// NetListener returns the wrapped listener.
func (l *Listener) NetListener() net.Listener { return l.inner }

// SetDeadline sets the inner listener's deadline for Accept, as
// net.TCPListener.SetDeadline does. It fails with an error wrapping
// errors.ErrUnsupported when the inner listener has no SetDeadline method.
func (l *Listener) SetDeadline(t time.Time) error {
	if d, ok := l.inner.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return l.unsupported("set", "SetDeadline")
}

// File returns a copy of the inner listener's file descriptor, as
// net.TCPListener.File does. It fails with an error wrapping
// errors.ErrUnsupported when the inner listener has no File method.
func (l *Listener) File() (*os.File, error) {
	if f, ok := l.inner.(interface{ File() (*os.File, error) }); ok {
		return f.File()
	}
	return nil, l.unsupported("file", "File")
}

// SyscallConn returns the inner listener's raw connection, as
// net.TCPListener.SyscallConn does. It fails with an error wrapping
// errors.ErrUnsupported when the inner listener is not a syscall.Conn.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := l.inner.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, l.unsupported("raw-control", "SyscallConn")
}

func (l *Listener) unsupported(op, method string) error {
	return l.opError(op, fmt.Errorf("mptcpx: the inner listener (%T) has no %s method: %w", l.inner, method, errors.ErrUnsupported))
}

func (l *Listener) opError(op string, err error) error {
	a := l.Addr()
	if a == nil {
		return &net.OpError{Op: op, Net: "tcp", Err: err}
	}
	return &net.OpError{Op: op, Net: a.Network(), Addr: a, Err: err}
}
