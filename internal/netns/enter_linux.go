package netns

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Cookie returns the cookie of the network namespace of the socket behind
// rc (SO_NETNS_COOKIE, Linux 5.14+).
func Cookie(rc syscall.RawConn) (uint64, error) {
	var cookie uint64
	var serr error
	err := rc.Control(func(fd uintptr) {
		cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	})
	if err == nil {
		err = serr
	}
	return cookie, err
}

// threadCookie returns the cookie of the calling thread's network
// namespace, from a socket opened there.
func threadCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
}

// InNamespaceOf runs fn on a thread of the network namespace whose cookie
// is cookie, the namespace of the socket behind rc: the calling goroutine's
// thread when it is there already, otherwise a locked thread that enters it
// for the time of fn (setns through the namespace descriptor that
// ioctl(SIOCGSKNS) gives for the socket). Entering another namespace needs
// CAP_NET_ADMIN in the user namespace that owns it, and CAP_SYS_ADMIN in
// the caller's; without them the error says so and fn does not run.
//
// What fn opens stays in the namespace it was opened in: sockets keep the
// namespace they were created in, whatever thread uses them later.
func InNamespaceOf(rc syscall.RawConn, cookie uint64, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err, clean := onThisThread(rc, cookie, fn)
		if clean {
			runtime.UnlockOSThread()
		} // else the thread stays in a namespace not its own, and exits with the goroutine
		done <- err
	}()
	return <-done
}

// onThisThread is InNamespaceOf on a locked thread. clean reports whether
// the thread is in the namespace it started in when it returns.
func onThisThread(rc syscall.RawConn, cookie uint64, fn func() error) (err error, clean bool) {
	here, err := threadCookie()
	if err != nil {
		return err, true
	}
	if here == cookie {
		return fn(), true
	}
	target := -1
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		target, ierr = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
	}); err != nil {
		return err, true
	}
	if ierr != nil {
		return fmt.Errorf("mptcpx: reach the connection's network namespace: %w", ierr), true
	}
	defer unix.Close(target)
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err, true
	}
	defer unix.Close(home)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("mptcpx: enter the connection's network namespace: %w", err), true
	}
	err = fn()
	return err, unix.Setns(home, unix.CLONE_NEWNET) == nil
}
