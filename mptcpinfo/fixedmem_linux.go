package mptcpinfo

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// fixedMem is memory outside the Go heap, from an anonymous private mmap:
// the garbage collector neither moves nor frees it, so raw addresses into it
// can be stored in a structure the kernel reads (mptcp_full_info carries two
// such addresses) without pinning anything per call. It is unmapped once the
// fixedMem that owns it is unreachable; whoever hands its addresses to the
// kernel keeps the fixedMem alive across the call (runtime.KeepAlive).
type fixedMem struct {
	b []byte
}

func newFixedMem(size int) (*fixedMem, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	m := &fixedMem{b: b}
	runtime.AddCleanup(m, func(b []byte) { unix.Munmap(b) }, b)
	return m, nil
}
