package testbed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// clientIndex and serverIndex are the interface indexes of path 0's ends;
// path p has clientIndex+p and serverIndex+p.
const (
	clientIndex = 10
	serverIndex = 20
)

var sweepOnce sync.Once

// New creates a Bed for the test t, or skips t when the machine cannot host
// one (not root, no MPTCP, no iproute2; a failure instead when
// MPTCPX_STRICT=1). It fails t when creating the bed fails.
//
// Steps: the two namespaces (unique names, see Sweep) and the veth pairs;
// in both namespaces rp_filter off (the kernel would drop packets of a
// subflow that arrive on another interface than the route back to their
// source), IPv6 duplicate address detection off (until it ends, addresses
// are "tentative" and neighbour discovery loses the first packets, which
// costs a connection a one-second SYN retransmission), the links up, the
// addresses, the MPTCP limits (`ip mptcp limits set subflows 8
// add_addr_accepted 8`) and the endpoints (Config); in Client one default
// route per path (metric 100+path) so that a subflow bound to a path's
// interface finds a gateway on that path; the rate limits. New returns once
// every link is running.
//
// t.Cleanup tears the bed down (see Close) also when the test fails or
// panics. New is safe to call from parallel tests.
func New(t testing.TB, cfg Config) *Bed {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tools := []string{"ip", "ss"}
	if len(cfg.RateLimit) > 0 {
		tools = append(tools, "tc")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "needs the iproute2 tool "+tool+" in PATH (Debian: apt-get install iproute2)")
		}
	}
	sweepOnce.Do(func() {
		if _, err := Sweep(); err != nil {
			t.Logf("testbed: removing stale namespaces: %v", err)
		}
	})
	b, err := create(cfg)
	if b != nil {
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("testbed: teardown: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// create builds the bed. When it returns a non-nil Bed, that Bed must be
// closed, also when err is not nil.
func create(cfg Config) (*Bed, error) {
	base := newBaseName()
	b := &Bed{
		cfg:    cfg,
		Client: newNS(base + "-c"),
		Server: newNS(base + "-s"),
	}

	// One ip process in this namespace creates both namespaces and every
	// veth pair, each end directly inside its namespace: nothing is ever
	// visible in the caller's namespace, and the names only need to be
	// unique within each bed.
	//
	// The two ends get different interface indexes (each namespace counts
	// its own). The kernel applies a link's carrier change at once only
	// when the index differs from the peer's; otherwise it may wait up to
	// a second, and until then the link drops every packet (measured: a
	// lost SYN and a one-second retransmission).
	lines := []string{"netns add " + b.Client.name, "netns add " + b.Server.name}
	for p := range cfg.Paths {
		lines = append(lines, fmt.Sprintf("link add %s index %d netns %s type veth peer name %s index %d netns %s",
			Iface(p), clientIndex+p, b.Client.name, Iface(p), serverIndex+p, b.Server.name))
	}
	if out, err := runHere(strings.Join(lines, "\n")+"\n", "ip", "-batch", "-"); err != nil {
		return b, fmt.Errorf("testbed: create namespaces: %w\n%s", err, out)
	}
	for _, ns := range []*NS{b.Client, b.Server} {
		if err := ns.open(); err != nil {
			return b, err
		}
	}

	// The two sides are independent until the links are up: configure
	// them in parallel.
	client, server := b.setupLines()
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = b.Client.configure(cfg, client) })
	wg.Go(func() { errs[1] = b.Server.configure(cfg, server) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return b, err
	}
	wg.Go(func() { errs[0] = b.Client.waitLinksRunning(cfg.Paths) })
	wg.Go(func() { errs[1] = b.Server.waitLinksRunning(cfg.Paths) })
	wg.Wait()
	return b, errors.Join(errs[:]...)
}

// waitLinksRunning waits until the kernel reports the paths' links as
// running (IFF_RUNNING: operationally up, with their queueing discipline
// attached), which normally holds already.
func (ns *NS) waitLinksRunning(paths int) error {
	var down []string
	err := WaitFor(5*time.Second, func() (bool, error) {
		down = down[:0]
		err := ns.Do(func() error {
			for p := range paths {
				ifc, err := net.InterfaceByName(Iface(p))
				if err != nil {
					return err
				}
				if ifc.Flags&net.FlagRunning == 0 {
					down = append(down, ifc.Name)
				}
			}
			return nil
		})
		return len(down) == 0, err
	})
	if err != nil {
		return fmt.Errorf("testbed: in namespace %s: links %v not running: %w", ns.name, down, err)
	}
	return nil
}

// setupLines returns the `ip -batch` lines that configure each side.
func (b *Bed) setupLines() (client, server []string) {
	cfg := b.cfg
	for i, side := range []*[]string{&client, &server} {
		host := byte(i + 1)
		*side = append(*side, "link set lo up")
		for p := range cfg.Paths {
			// Up first: an IPv6 address added to a link that is down
			// is not answered to neighbour solicitations at once after
			// the link comes up (measured: the first SYN is lost).
			*side = append(*side, "link set "+Iface(p)+" up")
			if cfg.IPv6 {
				*side = append(*side, fmt.Sprintf("addr add %s/64 dev %s nodad", pathAddr(p, true, host), Iface(p)))
			} else {
				*side = append(*side, fmt.Sprintf("addr add %s/24 dev %s", pathAddr(p, false, host), Iface(p)))
			}
		}
		*side = append(*side, "mptcp limits set subflows 8 add_addr_accepted 8")
	}
	for p := range cfg.Paths {
		def := "0.0.0.0/0"
		if cfg.IPv6 {
			def = "::/0"
		}
		client = append(client, fmt.Sprintf("route add %s via %s dev %s metric %d", def, b.ServerAddr(p), Iface(p), 100+p))
	}
	if !cfg.NoEndpoints {
		for p := 1; p < cfg.Paths; p++ {
			c, s := endpointAddLines(b, p)
			client, server = append(client, c...), append(server, s...)
		}
	}
	return client, server
}

// configure sets the sysctls, runs the ip lines and adds the rate limits in
// ns.
func (ns *NS) configure(cfg Config, lines []string) error {
	err := ns.Do(func() error {
		confs := []string{"all", "default"}
		for p := range cfg.Paths {
			confs = append(confs, Iface(p))
		}
		for _, c := range confs {
			for _, file := range []string{"ipv4/conf/" + c + "/rp_filter", "ipv6/conf/" + c + "/accept_dad"} {
				if err := os.WriteFile("/proc/sys/net/"+file, []byte("0"), 0); err != nil {
					return fmt.Errorf("testbed: in namespace %s: %w", ns.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := ns.ipBatch(lines); err != nil {
		return err
	}
	var tc []string
	for p := range cfg.Paths {
		if rate, ok := cfg.RateLimit[p]; ok {
			// burst: tbfBurst; latency: how long a packet may wait in
			// the bucket's queue.
			tc = append(tc, fmt.Sprintf("qdisc add dev %s root tbf rate %s burst %d latency 100ms", Iface(p), rate, tbfBurst))
		}
	}
	if len(tc) > 0 {
		if _, err := ns.run(strings.Join(tc, "\n")+"\n", "tc", "-batch", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Close tears the bed down: it removes both namespace names and releases
// the namespaces. The kernel then destroys each namespace, with its veth
// ends, addresses, routes and endpoints, as soon as nothing refers to it
// any more; destroying one end of a veth pair destroys the pair. Sockets
// still open in a namespace keep it alive (nameless, unreachable, harmless)
// until they are closed, at the latest when the test process exits. Close
// is idempotent and is called by the test cleanup that New registers; call
// it earlier to check what teardown does.
func (b *Bed) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		for _, ns := range []*NS{b.Client, b.Server} {
			if err := ns.h.close(); err != nil {
				errs = append(errs, fmt.Errorf("testbed: close namespace %s: %w", ns.name, err))
			}
			if err := removeNetnsName(ns.name); err != nil {
				errs = append(errs, err)
			}
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// runHere runs a command in the caller's namespace with stdin.
func runHere(stdin string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// removeNetnsName does what `ip netns delete` does: it detaches the bind
// mount that holds the namespace under its name and removes the file. A
// name that does not exist is not an error.
func removeNetnsName(name string) error {
	path := netnsDir + "/" + name
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("testbed: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("testbed: remove %s: %w", path, err)
	}
	return nil
}
