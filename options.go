package mptcpx

import (
	"fmt"
	"github.com/mptcpx/mptcpx/conntrace"
	mptcpxotel "github.com/mptcpx/mptcpx/otel"
	"reflect"
	"sync"
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
	peerAttributes bool                 // per-connection metric attributes
	noPathEvents   bool                 // poll only, even where path events can be received

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
	if cfg.tracer == nil && cfg.err == nil {
		cfg.tracer = otelTracer(cfg.tracerProvider, cfg.meterProvider, cfg.peerAttributes)
	}
	return cfg
}

// tracerKey identifies an OpenTelemetry instrumentation by what it records
// through.
type tracerKey struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	peer bool
}

// otelTracers holds one instrumentation per set of providers: instruments
// and their callbacks are registered once, however many Dialers and
// Listeners are built (package-level Dial builds one per call).
var otelTracers sync.Map // tracerKey -> *mptcpxotel.Tracer

func otelTracer(tp trace.TracerProvider, mp metric.MeterProvider, peer bool) conntrace.Tracer {
	newTracer := func() *mptcpxotel.Tracer {
		opts := []mptcpxotel.Option{mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithMeterProvider(mp)}
		if peer {
			opts = append(opts, mptcpxotel.WithPeerAttributes())
		}
		return mptcpxotel.NewTracer(opts...)
	}
	// Providers of a type that cannot be a map key get their own.
	if (tp != nil && !reflect.ValueOf(tp).Comparable()) || (mp != nil && !reflect.ValueOf(mp).Comparable()) {
		return newTracer()
	}
	key := tracerKey{tp, mp, peer}
	if t, ok := otelTracers.Load(key); ok {
		return t.(*mptcpxotel.Tracer)
	}
	t, _ := otelTracers.LoadOrStore(key, newTracer())
	return t.(*mptcpxotel.Tracer)
}

// Option configures a Dialer or a Listener.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithInterval sets how often the MPTCP state of every connection is
// sampled (subflows added or removed, fallback, counters). The default is one
// second. A final sample is always taken as a connection ends, so even
// connections shorter than the interval report their last counters.
//
// d must be at least MinInterval (one millisecond): a smaller duration
// (zero, negative, or time.Nanosecond written for time.Second) makes Listen
// fail, and makes every Dial, DialContext and Accept of a Dialer or Listener
// built with it fail, rather than sampling in a busy loop.
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < MinInterval {
			if c.err == nil {
				c.err = fmt.Errorf("mptcpx: WithInterval(%v): the sampling interval must be at least %v", d, MinInterval)
			}
			return
		}
		c.interval = d
	})
}

// MinInterval is the shortest sampling interval WithInterval accepts.
const MinInterval = time.Millisecond

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

// WithPeerAttributes adds network.peer.address and network.peer.port to the
// metrics of the OpenTelemetry instrumentation: one series per connection,
// for small deployments that want to tell peers apart. Off by default, to
// keep the number of series bounded. Ignored with WithTracer.
func WithPeerAttributes() Option {
	return optionFunc(func(c *config) { c.peerAttributes = true })
}

// WithoutPathEvents turns off, for the connections of this Dialer or
// Listener, what the kernel's path-manager events add to polling: they are
// sampled at their interval only, even where the process may receive the
// events (see PathEvents).
func WithoutPathEvents() Option {
	return optionFunc(func(c *config) { c.noPathEvents = true })
}
