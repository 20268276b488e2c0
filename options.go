package mptcpx

import (
	"fmt"
	"github.com/mptcpx/mptcpx/conntrace"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// defaultInterval is how often a live connection's MPTCP state is sampled
// when WithInterval is not given.
const defaultInterval = time.Second

// config holds what the options set. Dialers and listeners each keep their
// own copy, built once by newConfig.
type config struct {
	interval       time.Duration
	tracerProvider trace.TracerProvider // nil: the global provider
	meterProvider  metric.MeterProvider // nil: the global provider
	tracer         conntrace.Tracer     // hooks fed by the dialer, listener and sampler

	// err is the first invalid option. The constructors that return no
	// error (NewDialer, NewListener) keep it here and report it from every
	// Dial, DialContext and Accept, before anything is opened.
	err error
}

// newConfig applies opts, in order, over the defaults.
func newConfig(opts []Option) *config {
	cfg := &config{interval: defaultInterval}
	for _, o := range opts {
		if o != nil {
			o.apply(cfg)
		}
	}
	return cfg
}

// Option configures a Dialer or a Listener.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithInterval sets how often the MPTCP state of every connection is
// sampled (subflows added or removed, fallback, counters). The default is one
// second. A final sample is always taken just before Close, so even
// connections shorter than the interval report their last counters.
//
// d must be positive: zero or a negative duration makes Listen fail, and
// makes every Dial, DialContext and Accept of a Dialer or Listener built
// with it fail, rather than sampling in a busy loop.
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			if c.err == nil {
				c.err = fmt.Errorf("mptcpx: WithInterval(%v): the sampling interval must be positive", d)
			}
			return
		}
		c.interval = d
	})
}

// WithTracerProvider sets the provider of the tracer that records one span
// per connection. nil is ignored: the global provider (otel.GetTracerProvider)
// is used.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tracerProvider = tp
		}
	})
}

// WithMeterProvider sets the provider of the meter that records the
// connection and subflow metrics. nil is ignored: the global provider
// (otel.GetMeterProvider) is used.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// WithTracer installs hooks that follow every connection: dial start and
// failure, establishment, every sample with what changed, and close. They
// replace the OpenTelemetry instrumentation. nil is ignored.
func WithTracer(t conntrace.Tracer) Option {
	return optionFunc(func(c *config) {
		if t != nil {
			c.tracer = t
		}
	})
}
