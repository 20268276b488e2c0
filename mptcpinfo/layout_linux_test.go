package mptcpinfo

import (
	"testing"
	"unsafe"
)

// tcp_info offsets the project relies on, from the kernel table; x/sys's
// TCPInfo must agree.
func TestTCPInfoLayout(t *testing.T) {
	var ti TCPInfo
	for name, c := range map[string][2]uintptr{
		"rtt":            {unsafe.Offsetof(ti.Rtt), 68},
		"rttvar":         {unsafe.Offsetof(ti.Rttvar), 72},
		"snd_cwnd":       {unsafe.Offsetof(ti.Snd_cwnd), 80},
		"total_retrans":  {unsafe.Offsetof(ti.Total_retrans), 100},
		"bytes_acked":    {unsafe.Offsetof(ti.Bytes_acked), 120},
		"bytes_received": {unsafe.Offsetof(ti.Bytes_received), 128},
		"min_rtt":        {unsafe.Offsetof(ti.Min_rtt), 148},
		"delivery_rate":  {unsafe.Offsetof(ti.Delivery_rate), 160},
		"bytes_sent":     {unsafe.Offsetof(ti.Bytes_sent), 200},
		"bytes_retrans":  {unsafe.Offsetof(ti.Bytes_retrans), 208},
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
		t.Errorf("x/sys TCPInfo is %d bytes", unsafe.Sizeof(ti))
	}
}
