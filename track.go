package mptcpx

import (
	"context"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// connTracker follows one connection for the sampler and the
// instrumentation: it holds the sampler's state for the connection and the
// hooks of the configured conntrace.Tracer. A nil *connTracker follows
// nothing.
type connTracker struct {
	tracked
	sampler *sampler
}

func (cfg *config) newTracker(role conntrace.Role) *connTracker {
	t := &connTracker{sampler: defaultSampler}
	t.index = -1
	t.interval = cfg.interval
	t.role = role
	t.det.noMPTCP = !mptcpinfo.Available()
	return t
}

// dialStart is called before a dial; the returned context is used for the dial.
func (cfg *config) dialStart(ctx context.Context, network, address string) (context.Context, *connTracker) {
	t := cfg.newTracker(conntrace.RoleClient)
	if cfg.tracer != nil {
		ctx, t.hooks = cfg.tracer.DialStart(ctx, conntrace.DialStart{Network: network, Address: address, Time: time.Now()})
	}
	return ctx, t
}

// accepted is called for each connection a Listener accepts.
func (cfg *config) accepted(c *Conn) *connTracker {
	t := cfg.newTracker(conntrace.RoleServer)
	if cfg.tracer != nil {
		t.hooks = cfg.tracer.Accepted(c, time.Now())
	}
	return t
}

func (t *connTracker) dialFailed(err error) {
	if t != nil && t.hooks != nil {
		t.hooks.DialFailed(err, time.Now())
	}
}

// established registers the connection with the sampler, which takes its
// first sample at once.
func (t *connTracker) established(c *Conn) {
	if t == nil {
		return
	}
	if t.hooks != nil {
		t.hooks.Established(c, time.Now())
	}
	rc, err := c.tcpConn.SyscallConn()
	if err != nil {
		// Only a closed connection has no RawConn: nothing to sample, and
		// the hooks are told it ended.
		t.closed = true
		if t.hooks != nil {
			t.hooks.Closed(time.Now())
		}
		return
	}
	t.rc = rc
	t.sampler.start(&t.tracked)
}

// closing is called once, before the inner connection is closed: the final
// sample, then the hooks' Closed.
func (t *connTracker) closing(c *Conn) {
	if t == nil || t.rc == nil {
		return
	}
	t.sampler.stop(&t.tracked)
	if t.hooks != nil {
		t.hooks.Closed(time.Now())
	}
}
