package mptcpinfo

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestTCPInfoMatchesXSys: every field x/sys's TCPInfo (generated from the
// kernel's headers) declares is at the same offset, with the same size, in
// TCPInfo, whose names are Go's.
func TestTCPInfoMatchesXSys(t *testing.T) {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	ours := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[TCPInfo]()) {
		ours[norm(f.Name)] = f
	}
	compared := 0
	for _, f := range reflect.VisibleFields(reflect.TypeFor[unix.TCPInfo]()) {
		if f.Name == "_" {
			continue
		}
		o, ok := ours[norm(f.Name)]
		if !ok {
			t.Errorf("x/sys field %s has no counterpart", f.Name)
			continue
		}
		compared++
		if o.Offset != f.Offset || o.Type.Size() != f.Type.Size() {
			t.Errorf("%s: offset %d size %d, x/sys %s offset %d size %d", o.Name, o.Offset, o.Type.Size(), f.Name, f.Offset, f.Type.Size())
		}
	}
	if unsafe.Sizeof(TCPInfo{}) != unsafe.Sizeof(unix.TCPInfo{}) || compared < 60 {
		t.Errorf("TCPInfo is %d bytes, x/sys's %d; %d fields compared", unsafe.Sizeof(TCPInfo{}), unsafe.Sizeof(unix.TCPInfo{}), compared)
	}
}

// tcp_info offsets the project relies on, from the kernel table.
func TestTCPInfoLayout(t *testing.T) {
	var ti TCPInfo
	for name, c := range map[string][2]uintptr{
		"rtt":            {unsafe.Offsetof(ti.RTT), 68},
		"rttvar":         {unsafe.Offsetof(ti.RTTVar), 72},
		"snd_cwnd":       {unsafe.Offsetof(ti.SndCwnd), 80},
		"total_retrans":  {unsafe.Offsetof(ti.TotalRetrans), 100},
		"bytes_acked":    {unsafe.Offsetof(ti.BytesAcked), 120},
		"bytes_received": {unsafe.Offsetof(ti.BytesReceived), 128},
		"min_rtt":        {unsafe.Offsetof(ti.MinRTT), 148},
		"delivery_rate":  {unsafe.Offsetof(ti.DeliveryRate), 160},
		"bytes_sent":     {unsafe.Offsetof(ti.BytesSent), 200},
		"bytes_retrans":  {unsafe.Offsetof(ti.BytesRetrans), 208},
	} {
		if c[0] != c[1] {
			t.Errorf("tcp_info.%s at %d, kernel %d", name, c[0], c[1])
		}
	}
	// Kernel sizes by version and the fields they add.
	for _, c := range []struct {
		f    Field
		size int
	}{{FieldTCPRcvWnd, 240}, {FieldTCPTotalRTO, 248}, {FieldTCPAccECN, 280}} {
		if end := tcpInfoEnd(c.f); end > c.size || end <= c.size-8 {
			t.Errorf("%v needs %d bytes; kernels that have it return %d", c.f, end, c.size)
		}
		s := Snapshot{TCPInfoLen: c.size}
		if !s.Has(c.f) {
			t.Errorf("%d-byte tcp_info lacks %v", c.size, c.f)
		}
		s.TCPInfoLen = c.size - 8
		if s.Has(c.f) {
			t.Errorf("%d-byte tcp_info has %v", c.size-8, c.f)
		}
	}
	if unsafe.Sizeof(ti) != 280 {
		t.Errorf("TCPInfo is %d bytes", unsafe.Sizeof(ti))
	}
}
