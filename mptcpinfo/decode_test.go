package mptcpinfo

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"unsafe"
)

func sockaddr4(ip [4]byte, port uint16) []byte {
	b := make([]byte, 128)
	binary.NativeEndian.PutUint16(b, afInet)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b
}

func sockaddr6(ip [16]byte, port uint16) []byte {
	b := make([]byte, 128)
	binary.NativeEndian.PutUint16(b, afInet6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], ip[:])
	return b
}

func TestDecodeSockaddr(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	for _, c := range []struct {
		name string
		in   []byte
		want netip.AddrPort
	}{
		{"v4", sockaddr4([4]byte{10, 1, 2, 3}, 443), netip.MustParseAddrPort("10.1.2.3:443")},
		{"v6", sockaddr6(v6.As16(), 8080), netip.AddrPortFrom(v6, 8080)},
		{"v4-mapped", sockaddr6(mapped.As16(), 1), netip.AddrPortFrom(mapped, 1)},
		{"unknown family", append([]byte{1, 0}, make([]byte, 30)...), netip.AddrPort{}},
		{"AF_UNSPEC", make([]byte, 128), netip.AddrPort{}},
		{"short v4", sockaddr4([4]byte{1, 2, 3, 4}, 1)[:7], netip.AddrPort{}},
		{"short v6", sockaddr6(v6.As16(), 1)[:23], netip.AddrPort{}},
		{"empty", nil, netip.AddrPort{}},
	} {
		if got := decodeSockaddr(c.in); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if got := decodeSockaddr(sockaddr6(mapped.As16(), 1)); got.Addr().Unmap() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("mapped address does not unmap: %v", got)
	}
}

// fullAnswer builds a synthetic MPTCP_FULL_INFO answer.
func fullAnswer(slots, num int, infoLen int, sizeSf, sizeTCP uint32) fullInfoAnswer {
	head := make([]byte, sizeofFullInfo)
	binary.NativeEndian.PutUint32(head[4:], sizeTCP)
	binary.NativeEndian.PutUint32(head[12:], sizeSf)
	binary.NativeEndian.PutUint32(head[16:], uint32(num))
	binary.NativeEndian.PutUint32(head[sizeofFullInfoHead+12:], 0xabcd) // token
	sf := make([]byte, slots*sizeofSubflowInfo)
	tcp := make([]byte, slots*int(unsafe.Sizeof(TCPInfo{})))
	for i := 0; i < slots && i < num && uint64(i+1)*uint64(sizeSf) <= uint64(len(sf)); i++ {
		e := sf[i*int(sizeSf) : (i+1)*int(sizeSf)]
		if len(e) < sizeofSubflowInfo {
			if len(e) >= 4 {
				binary.NativeEndian.PutUint32(e, uint32(i+1))
			}
			continue
		}
		binary.NativeEndian.PutUint32(e, uint32(i+1))
		copy(e[8:], sockaddr4([4]byte{10, 0, byte(i), 1}, uint16(1000+i)))
		copy(e[8+128:], sockaddr4([4]byte{10, 0, byte(i), 2}, 80))
	}
	return fullInfoAnswer{Head: head, OptLen: sizeofFullInfoHead + infoLen, Slots: slots, SubflowInfo: sf, TCPInfo: tcp}
}

func TestDecodeFullInfo(t *testing.T) {
	var s Snapshot
	a := fullAnswer(4, 2, 80, sizeofSubflowInfo, 248)
	if err := decodeFullInfo(a, &s); err != nil {
		t.Fatal(err)
	}
	if s.NumSubflows != 2 || len(s.Subflows) != 2 || s.Subflows[1].ID != 2 || s.Subflows[1].Local != netip.MustParseAddrPort("10.0.1.1:1001") || s.Subflows[1].Remote != netip.MustParseAddrPort("10.0.1.2:80") {
		t.Fatalf("decoded %+v", s.Subflows)
	}
	// A 6.5 kernel: 80 bytes of mptcp_info, 248 of tcp_info.
	if s.Info.Token != 0xabcd || s.InfoLen != 80 || !s.Has(FieldBytes) || s.Has(FieldSubflowsTotal) || s.Has(FieldLastData) {
		t.Errorf("info %d bytes, fields wrong", s.InfoLen)
	}
	if s.TCPInfoLen != 248 || !s.Has(FieldTCPTotalRTO) || s.Has(FieldTCPAccECN) {
		t.Errorf("tcp_info %d bytes, fields wrong", s.TCPInfoLen)
	}
	// A stand-in for the disconnected first subflow (id 0, state CLOSE, no
	// peer port) is not a subflow; a real subflow in CLOSE state is.
	a = fullAnswer(4, 3, 96, sizeofSubflowInfo, 280)
	binary.NativeEndian.PutUint32(a.SubflowInfo, 0)
	clear(a.SubflowInfo[8+128 : 8+256])
	copy(a.SubflowInfo[8+128:], sockaddr4([4]byte{10, 0, 0, 2}, 0))
	a.TCPInfo[0] = tcpClose
	a.TCPInfo[int(unsafe.Sizeof(TCPInfo{}))] = tcpClose
	if err := decodeFullInfo(a, &s); err != nil {
		t.Fatal(err)
	}
	if s.NumSubflows != 2 || len(s.Subflows) != 2 || s.Subflows[0].ID != 2 || s.Subflows[0].State() != tcpClose || s.Subflows[1].ID != 3 {
		t.Fatalf("with a stand-in: %d subflows %+v", s.NumSubflows, s.Subflows)
	}
	// Too few slots: the count is kept, the caller is told to grow.
	a = fullAnswer(1, 3, 96, sizeofSubflowInfo, 280)
	var more *MoreSubflowsError
	if err := decodeFullInfo(a, &s); !errors.As(err, &more) || more.Need != 3 || more.Have != 1 {
		t.Fatalf("3 subflows in 1 slot: %v", err)
	}
	// Strides the kernel wrote that do not fit the arrays.
	for _, c := range []struct {
		name          string
		sizeSf, sizeT uint32
	}{{"zero sfinfo stride", 0, 280}, {"sfinfo stride too big", 100000, 280}, {"tcp stride too big", 264, 1 << 31}, {"huge strides", 1<<32 - 1, 1<<32 - 1}} {
		a = fullAnswer(2, 2, 96, c.sizeSf, c.sizeT)
		if err := decodeFullInfo(a, &s); !errors.Is(err, ErrBadLength) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Truncated elements (a kernel with smaller sizes than asked for).
	a = fullAnswer(2, 1, 96, 8, 0)
	if err := decodeFullInfo(a, &s); err != nil || s.Subflows[0].ID != 1 || s.Subflows[0].Local.IsValid() || s.TCPInfoLen != 0 {
		t.Errorf("ids only: %v %+v", err, s.Subflows)
	}
	// optlen beyond the buffer or below the header.
	a = fullAnswer(1, 0, 96, 264, 280)
	a.OptLen = 1000
	if err := decodeFullInfo(a, &s); !errors.Is(err, ErrBadLength) {
		t.Errorf("optlen past buffer: %v", err)
	}
	a.OptLen = 39
	if err := decodeFullInfo(a, &s); !errors.Is(err, ErrBadLength) {
		t.Errorf("optlen below header: %v", err)
	}
}

func TestDecodeSubflowArray(t *testing.T) {
	b := make([]byte, 16+3*256)
	binary.NativeEndian.PutUint32(b[0:], 16)
	binary.NativeEndian.PutUint32(b[4:], 5)    // 5 subflows
	binary.NativeEndian.PutUint32(b[12:], 256) // stride
	a, err := decodeSubflowArray(b, len(b))
	if err != nil || a.Num != 5 || a.Count() != 3 {
		t.Fatalf("%v num %d count %d", err, a.Num, a.Count())
	}
	binary.NativeEndian.PutUint32(b[12:], 0)
	if a, err = decodeSubflowArray(b, len(b)); err != nil || a.Count() != 0 {
		t.Fatalf("zero stride: %v %d", err, a.Count())
	}
	binary.NativeEndian.PutUint32(b[0:], 8)
	if _, err = decodeSubflowArray(b, len(b)); !errors.Is(err, ErrBadLength) {
		t.Fatalf("header size 8: %v", err)
	}
	if _, err = decodeSubflowArray(b[:10], 10); !errors.Is(err, ErrBadLength) {
		t.Fatalf("short: %v", err)
	}
}

func FuzzDecodeSockaddr(f *testing.F) {
	f.Add(sockaddr4([4]byte{127, 0, 0, 1}, 80))
	f.Add(sockaddr6([16]byte{15: 1}, 443))
	f.Add([]byte{10})
	f.Fuzz(func(t *testing.T, b []byte) {
		ap := decodeSockaddr(b)
		if ap.IsValid() && len(b) < 8 {
			t.Fatalf("address from %d bytes", len(b))
		}
	})
}

func FuzzDecodeFullInfo(f *testing.F) {
	a := fullAnswer(2, 2, 96, sizeofSubflowInfo, 280)
	f.Add(a.Head, a.OptLen, uint8(a.Slots), a.SubflowInfo, a.TCPInfo)
	a = fullAnswer(1, 3, 40, 8, 0)
	f.Add(a.Head, a.OptLen, uint8(a.Slots), a.SubflowInfo, a.TCPInfo)
	f.Fuzz(func(t *testing.T, head []byte, optLen int, slots uint8, sf, tcp []byte) {
		var s Snapshot
		err := decodeFullInfo(fullInfoAnswer{Head: head, OptLen: optLen, Slots: int(slots), SubflowInfo: sf, TCPInfo: tcp}, &s)
		if err != nil {
			return
		}
		if len(s.Subflows) != s.NumSubflows || s.NumSubflows > int(slots) {
			t.Fatalf("%d subflows listed, %d counted, %d slots", len(s.Subflows), s.NumSubflows, slots)
		}
		if s.InfoLen > SizeofInfo || s.InfoLen != optLen-sizeofFullInfoHead && s.InfoLen != SizeofInfo {
			t.Fatalf("info length %d from optlen %d", s.InfoLen, optLen)
		}
		if s.TCPInfoLen > int(unsafe.Sizeof(TCPInfo{})) {
			t.Fatalf("tcp_info length %d", s.TCPInfoLen)
		}
	})
}

func FuzzDecodeSubflowArray(f *testing.F) {
	b := make([]byte, 16+2*256)
	binary.NativeEndian.PutUint32(b[0:], 16)
	binary.NativeEndian.PutUint32(b[4:], 2)
	binary.NativeEndian.PutUint32(b[12:], 256)
	f.Add(b, len(b))
	f.Add(b[:16], 16)
	f.Fuzz(func(t *testing.T, b []byte, optLen int) {
		a, err := decodeSubflowArray(b, optLen)
		if err != nil {
			return
		}
		if a.Count() > a.Num {
			t.Fatalf("%d elements for %d subflows", a.Count(), a.Num)
		}
		for i := 0; i < a.Count(); i++ {
			var sf Subflow
			decodeAddrs(&sf, a.Elem(i))
			decodeTCPInfo(&sf.TCPInfo, a.Elem(i))
		}
	})
}
