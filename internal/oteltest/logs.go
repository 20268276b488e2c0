package oteltest

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// Logs is a log SDK that keeps every record it is given, exported at once
// (a simple processor).
type Logs struct {
	LP *sdklog.LoggerProvider

	mu      sync.Mutex
	records []sdklog.Record
}

// NewLogs returns a Logs shut down when t ends.
func NewLogs(t testing.TB) *Logs {
	l := &Logs{}
	l.LP = sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExporter{l})))
	t.Cleanup(func() { l.LP.Shutdown(context.Background()) })
	return l
}

// Named returns the records kept so far whose event name is name.
func (l *Logs) Named(name string) []sdklog.Record {
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

// RecordAttrs returns the attributes of a record.
func RecordAttrs(r sdklog.Record) []attribute.KeyValue {
	var kv []attribute.KeyValue
	r.WalkAttributes(func(a attribute.KeyValue) bool { kv = append(kv, a); return true })
	return kv
}

type logExporter struct{ l *Logs }

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
