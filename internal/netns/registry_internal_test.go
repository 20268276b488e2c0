package netns

import (
	"errors"
	"testing"
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
