package mptcpinfo

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
)

// BenchmarkFullInfo compares Reader.Read (cand) against the bare system call
// it wraps (base): getsockopt(MPTCP_FULL_INFO) on the same connection, with
// the same room for 4 subflows, and no decoding, interleaved in one run.
func BenchmarkFullInfo(b *testing.B) {
	if KernelMethod() != MethodFullInfo {
		b.Skip("kernel before 6.5: no MPTCP_FULL_INFO")
	}
	p := dialPair(b, "tcp4", true, true)
	rc, err := p.client.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	bare := bareinfo.NewFullInfo(firstSlots)
	defer bare.Close()
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	base := func(n int) {
		for range n {
			if e := bare.Get(fd); e != 0 {
				b.Fatal(e)
			}
		}
	}
	var r Reader
	var s Snapshot
	reader := func(n int) {
		for range n {
			if err := r.Read(rc, &s); err != nil {
				b.Fatal(err)
			}
		}
	}
	reader(1)
	b.ReportAllocs()
	benchcmp.Run(b, base, reader)
	if s.NumSubflows != 1 {
		b.Fatalf("%d subflows", s.NumSubflows)
	}
}

// BenchmarkSplit measures the 5.16 to 6.4 rung on this kernel: four calls.
func BenchmarkSplit(b *testing.B) {
	if KernelMethod() == MethodProtocol {
		b.Skip("kernel before 5.16")
	}
	p := dialPair(b, "tcp4", true, true)
	rc, _ := p.client.SyscallConn()
	r := Reader{Method: MethodSplit}
	var s Snapshot
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Read(rc, &s); err != nil {
			b.Fatal(err)
		}
	}
}
