package mptcpxotel

import (
	"reflect"
	"sync"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/telemetry"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// config holds what the options set. It is comparable when the providers
// are, so that shared can key instrumentations by it.
type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	loggerProvider log.LoggerProvider
	peerAttributes bool
	noSpanEvents   bool
	noLogEvents    bool
}

// newConfig applies opts over the defaults: the global providers, as they
// are now (a global provider set later is still reached: the global
// providers delegate to it).
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.loggerProvider == nil {
		c.loggerProvider = otel.GetLoggerProvider()
	}
	return c
}

// Option configures the instrumentation; give options to
// mptcpx.WithTelemetry.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithTracerProvider sets the provider of the tracer that records the
// mptcp.connection spans. nil is ignored: the global provider
// (otel.GetTracerProvider) is used. Pass a no-op provider
// (go.opentelemetry.io/otel/trace/noop) to record metrics only.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tracerProvider = tp
		}
	})
}

// WithMeterProvider sets the provider of the meter that records the mptcp.*
// metrics. nil is ignored: the global provider (otel.GetMeterProvider) is
// used. Pass a no-op provider (go.opentelemetry.io/otel/metric/noop) to
// record spans only.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// WithLoggerProvider sets the provider of the logger that emits the
// connection events as log records (see the package documentation). nil
// is ignored: the global provider (otel.GetLoggerProvider) is
// used, which drops everything until a program installs an SDK.
func WithLoggerProvider(lp log.LoggerProvider) Option {
	return optionFunc(func(c *config) {
		if lp != nil {
			c.loggerProvider = lp
		}
	})
}

// WithoutSpanEvents leaves the connection events out of the span: they are
// emitted as log records only.
func WithoutSpanEvents() Option {
	return optionFunc(func(c *config) { c.noSpanEvents = true })
}

// WithoutLogEvents leaves out the log records of the connection events:
// they are recorded as span events only.
func WithoutLogEvents() Option {
	return optionFunc(func(c *config) { c.noLogEvents = true })
}

// WithPeerAttributes adds the connection's network.peer.address and
// network.peer.port to every metric, so that each peer gets its own time
// series. Off by default: the number of series then grows with the number
// of peers, which only small deployments can afford. Spans always carry
// the peer's address.
func WithPeerAttributes() Option {
	return optionFunc(func(c *config) { c.peerAttributes = true })
}

// instances holds the instrumentations of shared, by configuration.
var instances sync.Map // config -> *instrumentation

// shared returns the instrumentation for opts, the same one for the same
// options (the same providers and settings), so that instruments and their
// callbacks are registered once however many Dialers and Listeners a
// program builds (mptcpx.Dial builds a Dialer per call). Providers of a type
// that cannot be compared get an instrumentation of their own.
func shared(opts []Option) *instrumentation {
	cfg := newConfig(opts)
	for _, p := range []any{cfg.tracerProvider, cfg.meterProvider, cfg.loggerProvider} {
		if !reflect.ValueOf(p).Comparable() {
			return newInstrumentation(cfg)
		}
	}
	if t, ok := instances.Load(cfg); ok {
		return t.(*instrumentation)
	}
	t, _ := instances.LoadOrStore(cfg, newInstrumentation(cfg))
	return t.(*instrumentation)
}

// The constructor is handed to package mptcpx, whose WithTelemetry is the
// one way to install the instrumentation.
func init() {
	telemetry.New = func(opts []Option) conntrace.Hooks { return shared(opts) }
}
