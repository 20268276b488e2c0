package bareinfo

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestGet issues the baseline request on a real MPTCP connection (it must
// succeed, or the benchmarks compare against a failing call) and on a
// descriptor that is no socket.
func TestGet(t *testing.T) {
	c, _ := testenv.LoopbackMPTCP(t)
	if mp, _ := c.MultipathTCP(); !mp {
		t.Skip("MPTCP not in use on loopback")
	}
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	f := NewFullInfo(4)
	defer f.Close()
	var e unix.Errno
	rc.Control(func(fd uintptr) { e = f.Get(int(fd)) })
	switch e {
	case 0:
		if *f.optlen != sizeofRequest+sizeofInfo {
			t.Errorf("optlen %d after the call, want %d", *f.optlen, sizeofRequest+sizeofInfo)
		}
		if n := (*request)(unsafe.Pointer(&f.buf[0])).numSubflows; n != 1 {
			t.Errorf("kernel reports %d subflows, want 1", n)
		}
	case unix.EOPNOTSUPP, unix.ENOPROTOOPT:
		t.Skipf("kernel without MPTCP_FULL_INFO (before 6.5): %v", e)
	default:
		t.Fatalf("MPTCP_FULL_INFO: %v", e)
	}
	if e := f.Get(-1); e != unix.EBADF {
		t.Errorf("Get(-1) = %v, want EBADF", e)
	}
}
