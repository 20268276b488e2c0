package mptcpxotel

import (
	"context"
	"errors"
	"net"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// errorType returns error.type for a failed dial, a low-cardinality name as
// the semantic conventions ask: "timeout" for a dial that ran out of time,
// "canceled" for a canceled context, the errno's symbolic name where the
// kernel refused (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ...), and
// otherwise the Go type of the cause: a dial's errors are *net.OpError
// values around it, so the type looked for is the first one inside that is
// not an *net.OpError (*net.DNSError for a name that does not resolve or an
// unknown port, *net.AddrError for a malformed address, ...).
func errorType(err error) attribute.KeyValue {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return semconv.ErrorTypeKey.String("timeout")
	case errors.Is(err, context.Canceled):
		return semconv.ErrorTypeKey.String("canceled")
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoName(errno); name != "" {
			return semconv.ErrorTypeKey.String(name)
		}
	}
	return semconv.ErrorType(cause(err))
}

// cause returns the error inside err's *net.OpError wrappers.
func cause(err error) error {
	for range 8 { // wrappers do not nest deeper
		op, ok := err.(*net.OpError)
		if !ok || op.Err == nil {
			return err
		}
		err = op.Err
	}
	return err
}
