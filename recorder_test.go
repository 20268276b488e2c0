package mptcpx_test

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// recorder is a conntrace.Hooks that keeps, per connection, what the hooks
// saw, copied out of the sampler's reused buffers.
type recorder struct {
	mu    sync.Mutex
	conns []*connRecord
}

type connRecord struct {
	mu          sync.Mutex
	role        conntrace.Role
	failed      error
	established bool
	closed      bool
	samples     []sampleRecord
	afterClose  int // hook calls after Closed: must stay 0
}

type sampleRecord struct {
	first, final  bool
	sent, recv    uint64
	connSent      uint64 // Snapshot.Info.BytesSent
	connRecv      uint64
	added         []uint32
	removed       []uint32
	fallback      conntrace.FallbackReason
	fallbackNew   bool
	subflows      int
	subflowsMax   int
	subflowDeltas []conntrace.SubflowDelta
}

func (r *recorder) add(role conntrace.Role) *connRecord {
	c := &connRecord{role: role}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return c
}

func (r *recorder) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, r.add(conntrace.RoleClient)
}

func (r *recorder) Accepted(net.Conn, time.Time) conntrace.ConnHooks {
	return r.add(conntrace.RoleServer)
}

func (r *recorder) all() []*connRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*connRecord(nil), r.conns...)
}

func (c *connRecord) DialFailed(err error, _ time.Time) {
	c.mu.Lock()
	c.failed = err
	c.mu.Unlock()
}

func (c *connRecord) Established(net.Conn, time.Time) {
	c.mu.Lock()
	c.established = true
	c.mu.Unlock()
}

func (c *connRecord) Sampled(s *conntrace.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.afterClose++
	}
	rec := sampleRecord{first: s.First, final: s.Final, sent: s.Sent, recv: s.Received,
		connSent: s.Snapshot.Info.BytesSent, connRecv: s.Snapshot.Info.BytesReceived,
		fallback: s.Fallback, fallbackNew: s.FallbackChanged, subflows: len(s.Snapshot.Subflows),
		subflowsMax: s.SubflowsMax, subflowDeltas: append([]conntrace.SubflowDelta(nil), s.SubflowDeltas...)}
	for _, i := range s.Added {
		rec.added = append(rec.added, s.Snapshot.Subflows[i].ID)
	}
	for _, r := range s.Removed {
		rec.removed = append(rec.removed, r.ID)
	}
	c.samples = append(c.samples, rec)
}

func (c *connRecord) Closed(time.Time) {
	c.mu.Lock()
	if c.closed {
		c.afterClose++
	}
	c.closed = true
	c.mu.Unlock()
}

// totals sums the deltas over every sample and counts the final samples.
func (c *connRecord) totals() (sent, recv uint64, finals int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.samples {
		sent += s.sent
		recv += s.recv
		if s.final {
			finals++
		}
	}
	return
}
