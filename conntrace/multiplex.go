package conntrace

import (
	"context"
	"net"
	"time"
)

// NopHooks follows nothing. Embed it in a Hooks to implement only some of
// its methods, and to keep compiling when methods are added.
type NopHooks struct{}

// DialStart returns ctx and no ConnHooks.
func (NopHooks) DialStart(ctx context.Context, _ DialStart) (context.Context, ConnHooks) {
	return ctx, nil
}

// Accepted returns no ConnHooks.
func (NopHooks) Accepted(net.Conn, time.Time) ConnHooks { return nil }

// NopConnHooks does nothing. Embed it in a ConnHooks to implement only
// some of its methods, and to keep compiling when methods are added.
type NopConnHooks struct{}

func (NopConnHooks) DialFailed(error, time.Time)     {}
func (NopConnHooks) Established(net.Conn, time.Time) {}
func (NopConnHooks) Sampled(*Sample)                 {}
func (NopConnHooks) Closed(time.Time)                {}

// Multiplex returns a Hooks that hands every call to each of hooks, in
// order; nil ones are left out. A connection is followed by the ConnHooks
// they return (nil ones are left out of it): one, as it is, or several
// behind one that calls each in turn. With no Hooks left, Multiplex
// returns nil.
func Multiplex(hooks ...Hooks) Hooks {
	var ts []Hooks
	for _, t := range hooks {
		if t != nil {
			ts = append(ts, t)
		}
	}
	switch len(ts) {
	case 0:
		return nil
	case 1:
		return ts[0]
	}
	return multiTracer(ts)
}

type multiTracer []Hooks

func (m multiTracer) DialStart(ctx context.Context, start DialStart) (context.Context, ConnHooks) {
	var cts []ConnHooks
	for _, t := range m {
		var ct ConnHooks
		ctx, ct = t.DialStart(ctx, start)
		if ct != nil {
			cts = append(cts, ct)
		}
	}
	return ctx, MultiplexConn(cts...)
}

func (m multiTracer) Accepted(conn net.Conn, start time.Time) ConnHooks {
	var cts []ConnHooks
	for _, t := range m {
		if ct := t.Accepted(conn, start); ct != nil {
			cts = append(cts, ct)
		}
	}
	return MultiplexConn(cts...)
}

// MultiplexConn returns a ConnHooks that hands every call to each of cts,
// in order; nil ones are left out. With one left it returns it as it is,
// with none, nil.
func MultiplexConn(cts ...ConnHooks) ConnHooks {
	var kept multiConn
	for _, ct := range cts {
		if ct != nil {
			kept = append(kept, ct)
		}
	}
	switch len(kept) {
	case 0:
		return nil
	case 1:
		return kept[0]
	}
	return kept
}

type multiConn []ConnHooks

func (m multiConn) DialFailed(err error, at time.Time) {
	for _, ct := range m {
		ct.DialFailed(err, at)
	}
}

func (m multiConn) Established(conn net.Conn, at time.Time) {
	for _, ct := range m {
		ct.Established(conn, at)
	}
}

func (m multiConn) Sampled(s *Sample) {
	for _, ct := range m {
		ct.Sampled(s)
	}
}

func (m multiConn) Closed(at time.Time) {
	for _, ct := range m {
		ct.Closed(at)
	}
}

// Unwrap returns the ConnHooks m calls, so that an instrumentation can
// find its own among them (see mptcpx.Conn.Hooks).
func (m multiConn) Unwrap() []ConnHooks { return m }
