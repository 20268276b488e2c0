package mptcpinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// TestWriteFuzzSeeds captures real kernel answers into the checked-in seed
// corpus. It runs only when asked: MPTCPX_WRITE_FUZZ_SEEDS=1 go test -run WriteFuzzSeeds ./mptcpinfo
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MPTCPX_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set MPTCPX_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz from this kernel")
	}
	p := dialPair(t, "tcp6", true, true)
	rc, _ := p.client.SyscallConn()
	r := &Reader{Method: MethodFullInfo}
	var s Snapshot
	if err := r.Read(rc, &s); err != nil {
		t.Fatal(err)
	}
	b := r.full.b
	sfEnd := sizeofFullInfo + r.fullSlots*sizeofSubflowInfo
	writeSeed(t, "FuzzDecodeFullInfo", "kernel-tcp6", b[:sizeofFullInfo], int(r.optlen), uint8(r.fullSlots), b[sizeofFullInfo:sfEnd], b[sfEnd:])
	writeSeed(t, "FuzzDecodeSockaddr", "kernel-local6", b[sizeofFullInfo+8:sizeofFullInfo+8+128])

	r = &Reader{Method: MethodSplit}
	if err := r.Read(rc, &s); err != nil {
		t.Fatal(err)
	}
	a := unsafe.Slice((*byte)(unsafe.Pointer(&r.addrs[1][0])), len(r.addrs[1])*8)
	writeSeed(t, "FuzzDecodeSubflowArray", "kernel-addrs", a, sizeofSubflowData+sizeofSubflowAddrs)
	tc := unsafe.Slice((*byte)(unsafe.Pointer(&r.tcp[0])), len(r.tcp)*8)
	writeSeed(t, "FuzzDecodeSubflowArray", "kernel-tcpinfo", tc, sizeofSubflowData+sizeofTCPInfo)
}

// writeSeed writes one corpus entry in the "go test fuzz v1" format.
func writeSeed(t *testing.T, fuzz, name string, args ...any) {
	dir := filepath.Join("testdata", "fuzz", fuzz)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := "go test fuzz v1\n"
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			text += fmt.Sprintf("[]byte(%q)\n", v)
		case int:
			text += fmt.Sprintf("int(%d)\n", v)
		case uint8:
			text += fmt.Sprintf("byte(%d)\n", v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
