package pmconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/netns"
)

// The generic netlink family and its commands (include/uapi/linux/mptcp_pm.h).
const (
	familyName     = "mptcp_pm"
	familyVersion  = 1 // MPTCP_PM_VER
	cmdGetAddr     = 3 // MPTCP_PM_CMD_GET_ADDR
	cmdGetLimits   = 6 // MPTCP_PM_CMD_GET_LIMITS
	sysctlDir      = "/proc/sys/net/mptcp"
	maxSysctlBytes = 4096
)

// Read reads the MPTCP path-manager configuration of the calling thread's
// network namespace (for a goroutine that did not enter another one: the
// process's). It opens a generic netlink socket for the limits and the
// endpoints, reads the files of /proc/sys/net/mptcp, and closes everything
// again; it caches nothing. It costs about 0.7 ms on a 2-vCPU machine
// (BenchmarkRead), most of it the kernel's lookups of a dozen sysctl
// files: a configuration to read when a namespace is first met and now and
// then, not per sample.
//
// The Config is never nil. Parts that could not be read have their error
// in the Config, and Read returns them joined: an error wrapping
// os.ErrPermission when the kernel wants a capability the process lacks
// (see the package documentation), errors.ErrUnsupported when the kernel
// has no MPTCP (no mptcp_pm family, no /proc/sys/net/mptcp). The parts
// without error are valid either way.
func Read() (*Config, error) {
	// What is opened belongs to the namespace of the thread that opens
	// it: keep the goroutine on one thread while opening, so that every
	// part comes from the same namespace. The netlink socket stays in its
	// namespace afterwards; the requests need no lock (a locked thread
	// makes every wait in the runtime's poller a thread hand-off).
	runtime.LockOSThread()
	conn, dialErr := dialFamily()
	c := &Config{}
	c.Sysctls, c.SysctlsErr = readSysctls(sysctlDir)
	runtime.UnlockOSThread()
	if dialErr != nil {
		c.LimitsErr, c.EndpointsErr = dialErr, dialErr
	} else {
		c.Limits, c.LimitsErr = getLimits(conn.c, conn.family)
		c.Endpoints, c.EndpointsErr = getEndpoints(conn.c, conn.family)
		conn.c.Close()
	}
	return c, c.err()
}

// ReadIn reads the configuration of the network namespace of the socket
// behind rc, as Read does, on a thread inside that namespace (netns.Do:
// no privilege when it is the caller's own; otherwise entering it needs
// CAP_SYS_ADMIN and CAP_NET_ADMIN over it, and without them ReadIn returns
// a nil Config and an error wrapping netns.ErrNotHere and os.ErrPermission).
// To read more of the namespace in the same visit, call Read inside
// netns.Do.
func ReadIn(rc syscall.RawConn) (*Config, error) {
	var c *Config
	var rerr error
	if err := netns.Do(rc, func() error {
		c, rerr = Read()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pmconfig: %w", err)
	}
	return c, rerr
}

// familyConn is a generic netlink socket and the id of mptcp_pm.
type familyConn struct {
	c      *genetlink.Conn
	family uint16
}

// dialFamily opens a generic netlink socket in the calling thread's
// namespace and resolves the mptcp_pm family.
func dialFamily() (familyConn, error) {
	conn, err := genetlink.Dial(nil)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			err = fmt.Errorf("%w: no generic netlink: %w", errors.ErrUnsupported, err)
		}
		return familyConn{}, fmt.Errorf("pmconfig: open a generic netlink socket: %w", err)
	}
	fam, err := conn.GetFamily(familyName)
	if err != nil {
		conn.Close()
		if errors.Is(err, os.ErrNotExist) {
			return familyConn{}, fmt.Errorf("pmconfig: %w: the kernel has no %s generic netlink family (no MPTCP)", errors.ErrUnsupported, familyName)
		}
		return familyConn{}, fmt.Errorf("pmconfig: resolve the %s generic netlink family: %w", familyName, err)
	}
	return familyConn{c: conn, family: fam.ID}, nil
}

// getLimits asks for the limits (a "do" request, one reply).
func getLimits(conn *genetlink.Conn, family uint16) (Limits, error) {
	msgs, err := conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetLimits, Version: familyVersion},
	}, family, netlink.Request)
	if err != nil {
		return Limits{}, requestError("the limits (MPTCP_PM_CMD_GET_LIMITS)", err)
	}
	if len(msgs) != 1 {
		return Limits{}, fmt.Errorf("pmconfig: %w: %d replies to MPTCP_PM_CMD_GET_LIMITS, want 1", ErrMalformed, len(msgs))
	}
	l, err := decodeLimits(msgs[0].Data)
	if err != nil {
		return Limits{}, fmt.Errorf("pmconfig: %w", err)
	}
	return l, nil
}

// getEndpoints dumps the endpoints (one reply message per endpoint).
func getEndpoints(conn *genetlink.Conn, family uint16) ([]Endpoint, error) {
	msgs, err := conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetAddr, Version: familyVersion},
	}, family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, requestError("the endpoints (MPTCP_PM_CMD_GET_ADDR)", err)
	}
	eps := make([]Endpoint, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeEndpoint(m.Data)
		if err != nil {
			return nil, fmt.Errorf("pmconfig: %w", err)
		}
		eps = append(eps, e)
	}
	return eps, nil
}

// requestError wraps the error of a request for what, saying what the
// kernel's refusal means.
func requestError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		// err matches os.ErrPermission through its errno.
		return fmt.Errorf("pmconfig: read %s: the kernel asks for CAP_NET_ADMIN over the network namespace: %w", what, err)
	}
	return fmt.Errorf("pmconfig: read %s: %w", what, err)
}

// readSysctls reads every file of dir. Files that cannot be read are left
// out and reported in the error.
func readSysctls(dir string) (Sysctls, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pmconfig: %w: no %s (the kernel has no MPTCP)", errors.ErrUnsupported, dir)
		}
		return nil, fmt.Errorf("pmconfig: read the MPTCP sysctls: %w", err)
	}
	s := make(Sysctls, len(entries))
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		v, err := readSmall(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("pmconfig: read sysctl net.mptcp.%s: %w", e.Name(), err))
			continue
		}
		s[e.Name()] = v
	}
	return s, errors.Join(errs...)
}

// readSmall reads a sysctl file (a few bytes; at most maxSysctlBytes are
// kept) without its final newline. Strings such as available_schedulers
// keep their inner spaces. It uses the system calls directly: procfs files
// are not pollable, and an os.File would only add its registration.
func readSmall(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var buf [maxSysctlBytes]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return strings.TrimRight(string(buf[:n]), "\n"), nil
}
