package mptcpxotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// config holds what the options set.
type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	peerAttributes bool
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
	return c
}

// Option configures a Tracer.
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

// WithPeerAttributes adds the connection's network.peer.address and
// network.peer.port to every metric, so that each connection gets its own
// time series. Off by default: the number of series then grows with the
// number of connections, which only small deployments can afford. Spans
// always carry the peer's address.
func WithPeerAttributes() Option {
	return optionFunc(func(c *config) { c.peerAttributes = true })
}
