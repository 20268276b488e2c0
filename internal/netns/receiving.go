package netns

// Receiving reports whether the connection's path events are received, or
// will be once its namespace's watcher is open: false when the watcher
// failed (the process may not join the events' group, say) and waits for
// its backoff, and for a nil Handle (a connection not registered).
func (h *Handle) Receiving() bool {
	if h == nil {
		return false
	}
	r := h.ns.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return h.ns.state == stateOpen || h.ns.state == stateOpening
}
