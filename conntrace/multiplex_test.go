package conntrace_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

type ctxKey string

// logTracer records every call it gets, under its name, into a shared log.
// With skip set it follows no connection.
type logTracer struct {
	name string
	log  *[]string
	skip bool
}

func (l logTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	*l.log = append(*l.log, l.name+".DialStart saw "+valueOr(ctx))
	ctx = context.WithValue(ctx, ctxKey("last"), l.name)
	if l.skip {
		return ctx, nil
	}
	return ctx, logConn(l)
}

func (l logTracer) Accepted(net.Conn, time.Time) conntrace.ConnHooks {
	*l.log = append(*l.log, l.name+".Accepted")
	if l.skip {
		return nil
	}
	return logConn(l)
}

func valueOr(ctx context.Context) string {
	if v, ok := ctx.Value(ctxKey("last")).(string); ok {
		return v
	}
	return "nothing"
}

type logConn logTracer

func (l logConn) DialFailed(error, time.Time)     { *l.log = append(*l.log, l.name+".DialFailed") }
func (l logConn) Established(net.Conn, time.Time) { *l.log = append(*l.log, l.name+".Established") }
func (l logConn) Sampled(*conntrace.Sample)       { *l.log = append(*l.log, l.name+".Sampled") }
func (l logConn) Closed(time.Time)                { *l.log = append(*l.log, l.name+".Closed") }

// partial implements only Closed; NopConnHooks gives it the rest.
type partial struct {
	conntrace.NopConnHooks
	closed *int
}

func (p partial) Closed(time.Time) { *p.closed++ }

func TestMultiplex(t *testing.T) {
	var log []string
	a := logTracer{name: "a", log: &log}
	b := logTracer{name: "b", log: &log}
	skip := logTracer{name: "skip", log: &log, skip: true}

	if conntrace.Multiplex() != nil || conntrace.Multiplex(nil, nil) != nil {
		t.Error("Multiplex of no tracer is not nil")
	}
	if got := conntrace.Multiplex(nil, a, nil); got != conntrace.Hooks(a) {
		t.Errorf("Multiplex of one tracer = %#v, want it as it is", got)
	}

	m := conntrace.Multiplex(a, nil, skip, b)
	ctx, ct := m.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: "127.0.0.1:1"})
	if got := valueOr(ctx); got != "b" {
		t.Errorf("the dial's context comes from %s, want the last tracer's", got)
	}
	ct.Established(nil, time.Now())
	ct.Sampled(&conntrace.Sample{})
	ct.DialFailed(errors.New("x"), time.Now())
	ct.Closed(time.Now())
	want := []string{
		// Each tracer's DialStart sees the context of the one before.
		"a.DialStart saw nothing", "skip.DialStart saw a", "b.DialStart saw skip",
		// The tracer that followed nothing is left out, the rest in order.
		"a.Established", "b.Established", "a.Sampled", "b.Sampled",
		"a.DialFailed", "b.DialFailed", "a.Closed", "b.Closed",
	}
	if !slices.Equal(log, want) {
		t.Errorf("calls:\n got %q\nwant %q", log, want)
	}
	u, ok := ct.(interface{ Unwrap() []conntrace.ConnHooks })
	if !ok || len(u.Unwrap()) != 2 {
		t.Errorf("the multiplexed ConnHooks does not unwrap to the two that follow: %#v", ct)
	}

	log = nil
	if ct := conntrace.Multiplex(skip, a).Accepted(nil, time.Now()); ct != conntrace.ConnHooks(logConn(a)) {
		t.Errorf("with one ConnHooks left, Accepted returns %#v, want it as it is", ct)
	}
	if ct := conntrace.Multiplex(skip, skip).Accepted(nil, time.Now()); ct != nil {
		t.Errorf("with no ConnHooks left, Accepted returns %#v, want nil", ct)
	}

	var closed int
	p := partial{closed: &closed}
	pc := conntrace.MultiplexConn(nil, p, conntrace.NopConnHooks{})
	pc.Established(nil, time.Now())
	pc.Sampled(&conntrace.Sample{})
	pc.Closed(time.Now())
	if closed != 1 {
		t.Errorf("Closed reached the partial ConnHooks %d times, want 1", closed)
	}
	var nop conntrace.NopHooks
	if ctx, ct := nop.DialStart(context.Background(), conntrace.DialStart{}); ctx == nil || ct != nil {
		t.Error("NopHooks.DialStart follows something")
	}
}
