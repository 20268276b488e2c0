package integration_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// logRecorder is a log SDK that keeps every record it is given, exported at once
// (a simple processor). It stays out of package oteltest, which the gRPC
// module's tests import without the log SDK in their go.sum.
type logRecorder struct {
	LP *sdklog.LoggerProvider

	mu      sync.Mutex
	records []sdklog.Record
}

// newLogs returns a logRecorder shut down when t ends.
func newLogs(t testing.TB) *logRecorder {
	l := &logRecorder{}
	l.LP = sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExporter{l})))
	t.Cleanup(func() { l.LP.Shutdown(context.Background()) })
	return l
}

// named returns the records kept so far whose event name is name.
func (l *logRecorder) named(name string) []sdklog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sdklog.Record
	for _, r := range l.records {
		if r.EventName() == name {
			out = append(out, r)
		}
	}
	return out
}

// recordAttrs returns the attributes of a record.
func recordAttrs(r sdklog.Record) []attribute.KeyValue {
	var kv []attribute.KeyValue
	r.WalkAttributes(func(a attribute.KeyValue) bool { kv = append(kv, a); return true })
	return kv
}

type logExporter struct{ l *logRecorder }

func (e logExporter) Export(_ context.Context, rs []sdklog.Record) error {
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	for _, r := range rs {
		e.l.records = append(e.l.records, r.Clone())
	}
	return nil
}

func (logExporter) Shutdown(context.Context) error   { return nil }
func (logExporter) ForceFlush(context.Context) error { return nil }
