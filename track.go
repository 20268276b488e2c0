package mptcpx

import "context"

// connTracker follows one connection for the sampler and the instrumentation.
type connTracker struct{}

// dialStart is called before a dial; the returned context is used for the dial.
func (cfg *config) dialStart(ctx context.Context, network, address string) (context.Context, *connTracker) {
	return ctx, nil
}

// accepted is called for each connection a Listener accepts.
func (cfg *config) accepted(c *Conn) *connTracker { return nil }

func (t *connTracker) dialFailed(err error) {}

func (t *connTracker) established(c *Conn) {}

// closing is called once, before the inner connection is closed.
func (t *connTracker) closing(c *Conn) {}
