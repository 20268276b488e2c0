package testbed

import "fmt"

// MaxPaths is the largest number of paths a Bed can have.
const MaxPaths = 4

// Config describes a Bed. The zero value is a usable IPv4 bed with two paths
// and client subflow endpoints.
type Config struct {
	// Paths is the number of veth pairs between Client and Server, 1 to
	// MaxPaths; 0 means 2. Path i has the interface name Iface(i) on both
	// sides. Path 0 carries the initial subflow; each further path can
	// carry one more subflow.
	Paths int

	// IPv6 makes the paths IPv6 only; without it they are IPv4 only. A bed
	// has one family so that the subflows of a connection are predictable:
	// an IPv6 socket would also accept IPv4 addresses announced by the
	// server (as IPv4-mapped addresses), an IPv4 socket never IPv6 ones.
	// Create two beds to test both families.
	IPv6 bool

	// ClientEndpoints configures, on Client, an `ip mptcp endpoint ...
	// subflow` for every path except path 0: when a connection is
	// established the client opens a subflow from each of them to the
	// address it connected to. This is what happens when neither
	// ClientEndpoints nor ServerSignal is set.
	ClientEndpoints bool

	// ServerSignal configures, on Server, an `ip mptcp endpoint ... signal`
	// for every path except path 0: the server announces those addresses
	// (ADD_ADDR) and the client opens a subflow to each of them. With
	// ClientEndpoints also set, both kinds are configured and the client
	// opens subflows for both (measured with 3 paths: 5 subflows).
	ServerSignal bool

	// NoEndpoints configures no endpoints at first; add them later with
	// Bed.AddEndpoint, in the mode given by ClientEndpoints and
	// ServerSignal.
	NoEndpoints bool

	// RateLimit limits paths to a rate with a tc token bucket filter (tbf),
	// keyed by path index, for example {0: "10mbit"}. The rate is written
	// as tc(8) accepts it. The limit applies to the egress of both ends of
	// the path, so to both directions.
	RateLimit map[int]string
}

// tbfBurst is the bucket size, in bytes, of the rate limits (Config.RateLimit):
// enough for a few full-size segments.
const tbfBurst = 64 << 10

// withDefaults returns c with defaults filled in, or an error when c is
// invalid.
func (c Config) withDefaults() (Config, error) {
	if c.Paths == 0 {
		c.Paths = 2
	}
	if c.Paths < 1 || c.Paths > MaxPaths {
		return c, fmt.Errorf("testbed: Config.Paths = %d, want 1 to %d", c.Paths, MaxPaths)
	}
	if !c.ClientEndpoints && !c.ServerSignal {
		c.ClientEndpoints = true
	}
	for p, rate := range c.RateLimit {
		if p < 0 || p >= c.Paths {
			return c, fmt.Errorf("testbed: Config.RateLimit has path %d, the bed has paths 0 to %d", p, c.Paths-1)
		}
		if rate == "" {
			return c, fmt.Errorf("testbed: Config.RateLimit[%d] is empty", p)
		}
	}
	return c, nil
}
