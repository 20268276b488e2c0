package netns

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// TestFailedNamespacesBounded: namespaces whose watcher failed and that have
// no connection left are remembered, for their backoff, up to maxIdle; the
// oldest are forgotten beyond, so that short-lived namespaces do not pile
// up.
func TestFailedNamespacesBounded(t *testing.T) {
	r := NewRegistry()
	for i := range uint64(10 * maxIdle) {
		ns := &Namespace{cookie: i + 1, reg: r, targets: map[uint32]*Handle{}}
		r.mu.Lock()
		r.byNS[ns.cookie] = ns
		r.failLocked(ns, errors.New("refused"), nil)
		r.mu.Unlock()
	}
	if n := r.Known(); n > maxIdle {
		t.Fatalf("%d namespaces remembered, want at most %d", n, maxIdle)
	}
	r.mu.Lock()
	_, newest := r.byNS[10*maxIdle]
	_, oldest := r.byNS[1]
	r.mu.Unlock()
	if !newest || oldest {
		t.Fatalf("newest kept %v, oldest kept %v: want the oldest forgotten first", newest, oldest)
	}
}

// countTarget counts the events handed to it.
type countTarget struct{ events []conntrace.PathEventKind }

func (c *countTarget) PathEvent(e *conntrace.PathEvent) { c.events = append(c.events, e.Kind) }
func (c *countTarget) Resample()                        {}

// TestEarlyEventsReplayed: events about a connection that came before it
// was followed (its token is known only at its first sample) are handed to
// it when it is, in order, once; other connections' are not, and old ones
// are forgotten.
func TestEarlyEventsReplayed(t *testing.T) {
	ns := &Namespace{targets: map[uint32]*Handle{}}
	now := time.Now()
	for i, e := range []struct {
		token uint32
		kind  conntrace.PathEventKind
		at    time.Time
	}{
		{7, conntrace.SubflowEstablished, now},
		{8, conntrace.SubflowEstablished, now},
		{7, conntrace.SubflowPriority, now},
		{7, conntrace.SubflowClosed, now.Add(-time.Minute)}, // too old
	} {
		if ns.target(e.token, &conntrace.PathEvent{Kind: e.kind, Time: e.at}) != nil {
			t.Fatalf("event %d matched a target, none is followed", i)
		}
	}
	tg := &countTarget{}
	ns.replay(7, tg)
	if want := []conntrace.PathEventKind{conntrace.SubflowEstablished, conntrace.SubflowPriority}; !slices.Equal(tg.events, want) {
		t.Fatalf("replayed %v, want %v", tg.events, want)
	}
	ns.replay(7, tg)
	if len(tg.events) != 2 {
		t.Fatalf("replayed again: %v", tg.events)
	}
}
