package netns

import "time"

// NewTestRegistry returns a registry whose watchers linger for linger.
func NewTestRegistry(linger time.Duration) *Registry {
	r := NewRegistry()
	r.linger = linger
	return r
}

// Known returns how many namespaces the registry remembers.
func (r *Registry) Known() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byNS)
}

// Opens returns how many watchers the registry opened.
func (r *Registry) Opens() uint64 { return r.opens.Load() }
