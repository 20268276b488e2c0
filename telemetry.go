package mptcpx

import (
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/telemetry"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// This file is the one place where the core package meets OpenTelemetry:
// every connection is recorded by package mptcpxotel's instrumentation unless
// WithoutTelemetry says otherwise, so that swapping net.Dial for
// mptcpx.Dial is enough to get spans, events and metrics through the
// global providers. The rest of the package knows only conntrace.

// telemetryConfig is what WithTelemetry and WithoutTelemetry set.
type telemetryConfig struct {
	off  bool
	opts []mptcpxotel.Option
}

// hooks returns the instrumentation's hooks, nil when it is off. Package
// mptcpxotel shares one instrumentation among every Dialer and Listener
// with the same options, so that instruments are made once.
func (c telemetryConfig) hooks() conntrace.Hooks {
	if c.off {
		return nil
	}
	return telemetry.New.(func([]mptcpxotel.Option) conntrace.Hooks)(c.opts)
}

// WithTelemetry sets the options of the OpenTelemetry instrumentation
// that records every connection (package
// github.com/mptcpx/mptcpx/mptcpxotel): the tracer, meter and logger providers
// (the global ones by default), per-peer metric attributes, span events or
// log-based events. Later calls add to earlier ones.
func WithTelemetry(opts ...mptcpxotel.Option) Option {
	return optionFunc(func(c *config) {
		c.telemetry.opts = append(c.telemetry.opts, opts...)
	})
}

// WithoutTelemetry leaves the OpenTelemetry instrumentation out: the
// connections are followed by the hooks of WithHooks only.
func WithoutTelemetry() Option {
	return optionFunc(func(c *config) { c.telemetry.off = true })
}
