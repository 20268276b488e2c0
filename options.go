package mptcpx

import (
	"fmt"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/nsinfo"
)

// defaultInterval is how often a live connection's MPTCP state is sampled
// when WithInterval is not given.
const defaultInterval = time.Second

// MinInterval is the shortest sampling interval WithInterval accepts.
const MinInterval = time.Millisecond

// config holds what the options set. Dialers and listeners each keep their
// own, built once by newConfig.
type config struct {
	follow    follow.Config     // what the engine needs: interval, hooks, path events
	hooks     []conntrace.Hooks // WithHooks, in order
	telemetry telemetryConfig   // the OpenTelemetry instrumentation (telemetry.go)

	// err is the first invalid option. The constructors that return no
	// error (NewDialer, NewListener) keep it here and report it from every
	// Dial, DialContext, DialConn and Accept, before anything is opened.
	err error
}

// newConfig applies opts, in order, over the defaults.
func newConfig(opts []Option) *config {
	cfg := &config{follow: follow.Config{Interval: defaultInterval}}
	for _, o := range opts {
		if o != nil {
			o.apply(cfg)
		}
	}
	if cfg.err == nil {
		cfg.follow.Hooks = conntrace.Multiplex(append([]conntrace.Hooks{cfg.telemetry.hooks()}, cfg.hooks...)...)
	}
	if !cfg.follow.NoPathEvents {
		netns.Default.Warm()
	}
	nsinfo.Default.Warm()
	return cfg
}

// Option configures a Dialer, a Listener, or the connections of Dial,
// DialContext, DialConn and Listen.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithInterval sets how often the MPTCP state of every connection is
// sampled (subflows added or removed, fallback, counters). The default is one
// second. A final sample is always taken as a connection ends, so even
// connections shorter than the interval report their last counters; where
// the process receives the kernel's path events (PathEvents), path changes
// are sampled at once too. Connections of different intervals are sampled
// each at its own pace.
//
// A quiet connection (nothing moved at its last two samples, nothing in
// flight) whose path events are received is checked without a reading of
// its own: the kernel's readiness list (epoll) tells, once per interval for
// all of them, which ones it woke (bytes received, the peer's
// acknowledgements since Linux 6.9, a hangup), and those and the ones with
// a path event are sampled at once; one written to through the Conn (Write,
// ReadFrom, CloseWrite) is sampled at its next interval. What wakes nothing
// (before Linux 6.9, writes through net.Buffers or SyscallConn's raw
// socket; the path manager's limits changed) is seen at the connection's
// rotation reading, every 16 intervals, and in full every 64. A connection
// whose socket was handed out by NetConn or File is never left to the list.
// WithoutPathEvents leaves this out too: every connection is then read
// every interval, on its own or by its namespace's socket dump.
//
// d must be at least MinInterval (one millisecond): a smaller duration
// (zero, negative, or time.Nanosecond written for time.Second) makes Listen
// and DialConn fail, and makes every Dial, DialContext and Accept of a
// Dialer or Listener built with it fail, rather than sampling in a busy
// loop.
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < MinInterval {
			if c.err == nil {
				c.err = fmt.Errorf("mptcpx: WithInterval(%v): the sampling interval must be at least %v", d, MinInterval)
			}
			return
		}
		c.follow.Interval = d
	})
}

// WithHooks adds hooks that follow every connection: dial start and
// failure, establishment, every sample with news, and close (see package
// conntrace). Several WithHooks add up, and all follow each connection
// along with the OpenTelemetry instrumentation (WithoutTelemetry leaves
// that out). nil is ignored.
func WithHooks(h conntrace.Hooks) Option {
	return optionFunc(func(c *config) {
		if h != nil {
			c.hooks = append(c.hooks, h)
		}
	})
}

// WithoutPathEvents turns off, for the connections of this Dialer or
// Listener, what the kernel's path-manager events add to polling: they are
// sampled at their interval only, even where the process may receive the
// events (see PathEvents).
func WithoutPathEvents() Option {
	return optionFunc(func(c *config) { c.follow.NoPathEvents = true })
}
