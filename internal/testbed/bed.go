package testbed

import (
	"fmt"
	"net/netip"
	"sync"
)

// Bed is a pair of network namespaces joined by Config.Paths veth pairs.
// Create it with New; it is torn down by the test's cleanup or by Close.
type Bed struct {
	// Client and Server are the two namespaces. The names only say which
	// side carries the client endpoints (Config.ClientEndpoints) and which
	// announces addresses (Config.ServerSignal); both sides are configured
	// alike otherwise.
	Client, Server *NS

	cfg Config

	closeOnce sync.Once
	closeErr  error
}

// Config returns the bed's configuration with defaults filled in.
func (b *Bed) Config() Config { return b.cfg }

// Paths returns the number of paths.
func (b *Bed) Paths() int { return b.cfg.Paths }

// ClientAddr returns Client's address on path: IPv4, or IPv6 when
// Config.IPv6. It panics when the bed has no such path.
func (b *Bed) ClientAddr(path int) netip.Addr {
	b.checkPath(path)
	return pathAddr(path, b.cfg.IPv6, 1)
}

// ServerAddr returns Server's address on path: IPv4, or IPv6 when
// Config.IPv6. It panics when the bed has no such path.
func (b *Bed) ServerAddr(path int) netip.Addr {
	b.checkPath(path)
	return pathAddr(path, b.cfg.IPv6, 2)
}

func (b *Bed) checkPath(path int) {
	if path < 0 || path >= b.cfg.Paths {
		panic(fmt.Sprintf("testbed: path %d does not exist, the bed has paths 0 to %d", path, b.cfg.Paths-1))
	}
}
