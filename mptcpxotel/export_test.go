package mptcpxotel

import (
	"net/http"

	"github.com/mptcpx/mptcpx/conntrace"
)

// Tracer is the instrumentation, for the tests that drive it directly with
// synthetic samples or install it through mptcpx.WithHooks.
type Tracer = instrumentation

// NewTracer returns an instrumentation of its own for opts (not shared).
func NewTracer(opts ...Option) *Tracer { return newInstrumentation(newConfig(opts)) }

var _ conntrace.Hooks = (*Tracer)(nil)

// WrappedTransport returns the RoundTripper that LinkTransport wrapped.
func WrappedTransport(rt http.RoundTripper) http.RoundTripper { return rt.(linkTransport).rt }

// NumPathsLimits is how many values of conntrace.PathsLimit the metrics
// have series for, none included.
const NumPathsLimits = numPathsLimits
