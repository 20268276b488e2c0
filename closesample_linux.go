package mptcpx

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// closeAndRead closes the socket behind tc and rc for Close, and reads its
// final state into sc.snap.
//
// The reading is taken after the close, through a duplicate of the
// descriptor made just before it. Closing tc wakes every Read and Write in
// progress and waits until none is inside a system call, so nothing the
// program writes can reach the kernel after the reading: the final counters
// hold every byte the program handed over. The duplicate keeps the kernel's
// socket open meanwhile (the kernel sends no FIN or DATA_FIN, and honours
// SO_LINGER, only when the last descriptor is closed), and is closed right
// after the reading. When no duplicate can be made (the process is out of
// descriptors), the reading is taken just before the close instead.
//
// gone reports a socket that was already closed underneath: nothing was
// read, and closeErr is what closing it again returns.
func closeAndRead(tc *net.TCPConn, rc syscall.RawConn, sc *scratch) (read, gone bool, closeErr error) {
	dup, dupErr := -1, error(nil)
	err := rc.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if errors.Is(err, net.ErrClosed) {
		return false, true, tc.Close()
	}
	if err != nil || dupErr != nil {
		read = sc.reader.Read(rc, &sc.snap) == nil
		return read, false, tc.Close()
	}
	closeErr = tc.Close()
	read = sc.reader.ReadFD(dup, &sc.snap) == nil
	unix.Close(dup)
	return read, false, closeErr
}
