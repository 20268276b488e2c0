package follow

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// The final reading of a connection the program closes is taken after the
// close, through a duplicate of the descriptor made just before it. Closing
// the connection wakes every Read and Write in progress and waits until
// none is inside a system call, so nothing the program writes can reach the
// kernel after the reading: the final counters hold every byte the program
// handed over. The duplicate keeps the kernel's socket open meanwhile (the
// kernel sends no FIN or DATA_FIN, and honours SO_LINGER, only when the last
// descriptor is closed), and is closed right after the reading: that close
// is the kernel's, which SO_LINGER may make wait, and its error is Close's.
// When no duplicate can be made (the process is out of descriptors), the
// reading is taken just before the close instead.

// finalReading is what closing and reading found.
type finalReading struct {
	read      bool  // the final reading is in the scratch snapshot
	abortive  bool  // the close discards what is still queued
	noPeerFIN bool  // nothing was left to read, and no end of stream
	closeErr  error // closing the program's descriptor
}

// dupLocked duplicates the socket's descriptor, -1 when it cannot; gone
// reports a socket closed underneath already.
func dupLocked(rc syscall.RawConn) (dup int, gone bool) {
	dup = -1
	var dupErr error
	err := rc.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if errors.Is(err, net.ErrClosed) {
		return -1, true
	}
	if err != nil || dupErr != nil {
		return -1, false
	}
	return dup, false
}

// closeAndRead closes tc and reads the socket's final state into sc.snap,
// through dup when there is one.
func closeAndRead(tc *net.TCPConn, rc syscall.RawConn, dup int, sc *scratch) (fin finalReading) {
	if dup < 0 {
		fin.read = sc.reader.Read(rc, &sc.snap) == nil
		_ = rc.Control(func(fd uintptr) { fin.settle(int(fd), &sc.snap) })
		fin.closeErr = tc.Close()
		return fin
	}
	fin.closeErr = tc.Close()
	fin.read = sc.reader.ReadFD(dup, &sc.snap) == nil
	fin.settle(dup, &sc.snap)
	return fin
}

// settle asks the socket fd, whose final reading is s, what the reading
// cannot say, when it matters: whether the close discards what is still
// queued (only when bytes are queued), and, where the counters come from
// the MPTCP sequence numbers (Linux 5.16 to 6.4), whether the peer's
// DATA_FIN had arrived (see detect.Stream.NoPeerFIN).
func (fin *finalReading) settle(fd int, s *mptcpinfo.Snapshot) {
	if !fin.read {
		return
	}
	fin.abortive = queued(s) && abortive(fd, s)
	if s.MPTCP && s.InfoLen > 0 && !s.Has(mptcpinfo.FieldBytes) {
		fin.noPeerFIN = noPeerFIN(fd)
	}
}

// noPeerFIN reports whether fd has nothing to read and has not reached the
// end of the stream: a read that peeks without waiting finds no data
// (EAGAIN). At the end of the stream it returns 0; with data unread it
// returns some, and whether a DATA_FIN follows it cannot say.
func noPeerFIN(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN
}

// queued reports whether an MPTCP connection's reading shows bytes written
// and not acknowledged yet: only then does it matter whether the close
// discards them (abortive), which takes two more system calls to tell.
func queued(s *mptcpinfo.Snapshot) bool {
	return s.MPTCP && s.InfoLen > 0 && s.Info.WriteSeq != s.Info.SndUna
}

// finish closes the duplicate, and returns the error Close reports: that
// of closing the program's descriptor, else that of the kernel's close.
func (fin finalReading) finish(dup int) error {
	if dup < 0 {
		return fin.closeErr
	}
	err := unix.Close(dup)
	if fin.closeErr != nil {
		return fin.closeErr
	}
	if err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Err: os.NewSyscallError("close", err)}
	}
	return nil
}

// dropReading takes the final reading of a dropped connection, whose
// socket the runtime closes afterwards, into sc.snap.
func dropReading(rc syscall.RawConn, sc *scratch) (fin finalReading) {
	fin.read = sc.reader.Read(rc, &sc.snap) == nil
	_ = rc.Control(func(fd uintptr) { fin.settle(int(fd), &sc.snap) })
	return fin
}

// resetOrDead reports a connection that can send nothing more: torn down
// by a reset (it then refuses SOL_MPTCP, and its state is CLOSE).
func resetOrDead(s *mptcpinfo.Snapshot) bool { return s.State == tcpClose }

// tcpClose is TCP_CLOSE, the state of a socket torn down.
const tcpClose = 7

// abortive reports whether closing the socket fd discards what is still
// queued: it lingers with a zero timeout (the kernel then resets the
// connection), or the connection failed (a reset by the peer, a peer that
// stopped answering: the socket's pending error says so), or it is torn
// down already.
func abortive(fd int, s *mptcpinfo.Snapshot) bool {
	if lingerZero(fd) || resetOrDead(s) {
		return true
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	return err == nil && soErr != 0
}

// lingerZero reports whether fd has SO_LINGER on with a zero timeout.
func lingerZero(fd int) bool {
	l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
	return err == nil && l.Onoff != 0 && l.Linger == 0
}
