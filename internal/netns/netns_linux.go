package netns

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread whose network namespace is that of the socket
// behind rc, and returns fn's error. fn runs on a goroutine of its own,
// locked to its thread for the call: what it opens (netlink sockets, files
// under /proc/sys/net or /proc/thread-self/net) belongs to the socket's
// namespace and stays so after Do returns. fn must do its namespace work
// itself, not hand it to other goroutines (they run on other threads).
//
// When the thread is already in the socket's namespace (the cookies that
// SO_NETNS_COOKIE gives, Linux 5.14+, are equal) fn simply runs there, which
// needs no privilege. Otherwise the thread enters the namespace: ioctl
// SIOCGSKNS on the socket gives a descriptor of it (the kernel asks for
// CAP_NET_ADMIN in the user namespace that owns the network namespace) and
// setns(2) switches to it (CAP_SYS_ADMIN in that user namespace and in the
// caller's). Without them Do returns an error wrapping ErrNotHere and the
// errno, which matches os.ErrPermission, and fn does not run. Afterwards the
// thread returns to the namespace it came from; if that fails, the thread
// stays locked to the goroutine and exits with it, so that no other
// goroutine ever runs in the wrong namespace.
//
// A panic in fn is raised again in the caller's goroutine, after the thread
// has left the namespace.
func Do(rc syscall.RawConn, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		res := result{err: errors.New("netns: the function given to Do exited its goroutine (runtime.Goexit)")}
		clean := true // whether the thread is in the namespace it started in
		defer func() {
			if clean {
				runtime.UnlockOSThread()
			}
			done <- res
		}()
		leave, err := enter(rc)
		if err != nil {
			res.err = err
			return
		}
		defer func() {
			if err := leave(); err != nil {
				clean = false
				res.err = errors.Join(res.err, err)
			}
		}()
		defer func() {
			if v := recover(); v != nil {
				res = result{panicked: true, value: v}
			}
		}()
		res.err = fn()
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// enter switches the calling thread, which must be locked, to the network
// namespace of the socket behind rc, unless it is already there. leave
// switches it back (it does nothing when nothing was switched).
func enter(rc syscall.RawConn) (leave func() error, err error) {
	nothing := func() error { return nil }
	sock, serr := Cookie(rc)
	if serr == nil {
		here, err := ThreadCookie()
		if err == nil && here == sock {
			return nothing, nil
		}
	}
	target, err := socketNamespace(rc)
	if err != nil {
		return nil, err
	}
	defer unix.Close(target)
	if serr != nil {
		// No SO_NETNS_COOKIE (before 5.14): compare the namespaces' inodes.
		same, err := sameNamespace(target)
		if err != nil {
			return nil, err
		}
		if same {
			return nothing, nil
		}
	}
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netns: open this thread's network namespace: %w", err)
	}
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		unix.Close(home)
		return nil, fmt.Errorf("%w: setns: %w", ErrNotHere, err)
	}
	return func() error {
		defer unix.Close(home)
		if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netns: return to the thread's own network namespace (the thread is discarded): %w", err)
		}
		return nil
	}, nil
}

// socketNamespace returns a descriptor of the socket's network namespace
// (ioctl SIOCGSKNS, Linux 4.9+; it needs CAP_NET_ADMIN over the namespace).
func socketNamespace(rc syscall.RawConn) (int, error) {
	fd := -1
	var ierr error
	if err := rc.Control(func(s uintptr) {
		fd, ierr = unix.IoctlRetInt(int(s), unix.SIOCGSKNS)
	}); err != nil {
		return -1, fmt.Errorf("netns: %w", err)
	}
	if ierr != nil {
		return -1, fmt.Errorf("%w: ioctl SIOCGSKNS: %w", ErrNotHere, ierr)
	}
	return fd, nil
}

// sameNamespace reports whether the namespace behind fd is the calling
// thread's: nsfs gives every namespace one inode.
func sameNamespace(fd int) (bool, error) {
	var there, here unix.Stat_t
	if err := unix.Fstat(fd, &there); err != nil {
		return false, fmt.Errorf("netns: %w", err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &here); err != nil {
		return false, fmt.Errorf("netns: %w", err)
	}
	return there.Dev == here.Dev && there.Ino == here.Ino, nil
}

// Cookie returns the cookie of the network namespace of the socket behind
// rc (getsockopt SO_NETNS_COOKIE, Linux 5.14+, no privilege needed): the
// same for every socket of a namespace and never reused while the kernel
// runs, a key for what is kept per namespace.
func Cookie(rc syscall.RawConn) (uint64, error) {
	var cookie uint64
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	}); err != nil {
		return 0, fmt.Errorf("netns: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("netns: getsockopt SO_NETNS_COOKIE: %w", serr)
	}
	return cookie, nil
}

// ThreadCookie returns the cookie of the calling thread's network namespace,
// from a socket opened there for the purpose. The caller decides which
// thread that is (runtime.LockOSThread).
func ThreadCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("netns: %w", err)
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("netns: getsockopt SO_NETNS_COOKIE: %w", err)
	}
	return c, nil
}
