package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// namespaces is a two-host network on one machine: a client and a server
// network namespace joined by several veth pairs, link i carrying
// 10.99.i.1 (client) and 10.99.i.2 (server). The server listens on
// 10.99.0.2; the client has an MPTCP "subflow" endpoint on each of its
// other addresses, so the kernel's path manager opens one more subflow from
// each, bound to its link, as soon as a connection is established. Every
// address lives inside the namespaces: nothing leaves the machine.
type namespaces struct {
	client, server string // names under /run/netns
	origin         int    // the namespace to return threads to
	clientFD       int
	serverFD       int
}

// newNamespaces builds the topology with iproute2 and returns it as the
// demo's network. On error, whatever was built is removed.
func newNamespaces(paths int, blackhole bool) (nw *network, err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("-paths needs the ip command (iproute2): %w", err)
	}
	prefix := fmt.Sprintf("mptcpx-demo-%d", os.Getpid())
	ns := &namespaces{client: prefix + "-client", server: prefix + "-server", origin: -1, clientFD: -1, serverFD: -1}
	defer func() {
		if err != nil {
			err = errors.Join(err, ns.close())
		}
	}()

	if ns.origin, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	for _, name := range []string{ns.client, ns.server} {
		if err := ip("netns", "add", name); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct {
		name string
		fd   *int
	}{{ns.client, &ns.clientFD}, {ns.server, &ns.serverFD}} {
		if *p.fd, err = unix.Open(filepath.Join("/run/netns", p.name), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", p.name, err)
		}
	}

	// Each namespace: loopback up, rp_filter off (a subflow's replies may
	// come back on another link than the one its source address lives on),
	// and MPTCP limits that allow paths-1 extra subflows.
	extra := strconv.Itoa(paths - 1)
	for _, name := range []string{ns.client, ns.server} {
		if err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
		if err := ip("-n", name, "mptcp", "limits", "set", "subflows", extra, "add_addr_accepted", extra); err != nil {
			return nil, err
		}
	}
	for _, fd := range []int{ns.clientFD, ns.serverFD} {
		err := ns.in(fd, func() error {
			for _, conf := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+conf+"/rp_filter", []byte("0"), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("turning rp_filter off: %w", err)
		}
	}

	for i := range paths {
		c, s := fmt.Sprintf("c%d", i), fmt.Sprintf("s%d", i)
		caddr, saddr := fmt.Sprintf("10.99.%d.1", i), fmt.Sprintf("10.99.%d.2", i)
		steps := [][]string{
			{"link", "add", c, "netns", ns.client, "type", "veth", "peer", "name", s, "netns", ns.server},
			{"-n", ns.client, "addr", "add", caddr + "/24", "dev", c},
			{"-n", ns.server, "addr", "add", saddr + "/24", "dev", s},
			{"-n", ns.client, "link", "set", c, "up"},
			{"-n", ns.server, "link", "set", s, "up"},
		}
		if i > 0 {
			steps = append(steps, []string{"-n", ns.client, "mptcp", "endpoint", "add", caddr, "dev", c, "id", strconv.Itoa(i), "subflow"})
		}
		for _, args := range steps {
			if err := ip(args...); err != nil {
				return nil, err
			}
		}
	}

	desc := fmt.Sprintf("between two network namespaces joined by %d links", paths)
	if blackhole {
		// A middlebox that drops what it does not know: the SYNs that
		// carry the MPTCP option, not the plain ones.
		if _, err := exec.LookPath("nft"); err != nil {
			return nil, fmt.Errorf("-blackhole needs nft (nftables): %w", err)
		}
		rules := "add table inet mptcpx-demo\n" +
			"add chain inet mptcpx-demo in { type filter hook input priority 0; }\n" +
			"add rule inet mptcpx-demo in tcp flags syn / syn,ack tcp option mptcp exists drop\n"
		cmd := exec.Command("ip", "netns", "exec", ns.server, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("nft in %s: %v: %s", ns.server, err, strings.TrimSpace(string(out)))
		}
		desc += ", the server's dropping MPTCP SYNs (a blackhole)"
	}
	return &network{
		desc:     desc,
		host:     "10.99.0.2",
		inServer: func(f func() error) error { return ns.in(ns.serverFD, f) },
		inClient: func(f func() error) error { return ns.in(ns.clientFD, f) },
		close:    ns.close,
	}, nil
}

// in runs f on a goroutine locked to an OS thread that has entered the
// network namespace fd: the sockets f creates belong to that namespace for
// the rest of their lives, wherever they are used afterwards. The thread
// returns to the original namespace before it is unlocked; if it cannot,
// it stays locked and the runtime ends it with the goroutine, so no other
// goroutine ever runs in the wrong namespace.
func (ns *namespaces) in(fd int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		err := f()
		if unix.Setns(ns.origin, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// close deletes both namespaces (the veth pairs and endpoints go with them)
// and closes the descriptors.
func (ns *namespaces) close() error {
	var errs []error
	for _, fd := range []*int{&ns.clientFD, &ns.serverFD, &ns.origin} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	for _, name := range []string{ns.client, ns.server} {
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			errs = append(errs, ip("netns", "delete", name))
		}
	}
	return errors.Join(errs...)
}

// ip runs one iproute2 command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
