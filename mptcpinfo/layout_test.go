package mptcpinfo

import (
	"testing"
	"unsafe"
)

// kernelLayout is the table of sizes and offsets the project keeps from the
// kernel's uapi headers through 6.19 (64-bit ABIs). Every Go mirror must
// match it exactly.
var kernelLayout = map[string]uintptr{
	"mptcp_info":                       96,
	"mptcp_info.subflows":              0,
	"mptcp_info.add_addr_signal":       1,
	"mptcp_info.add_addr_accepted":     2,
	"mptcp_info.subflows_max":          3,
	"mptcp_info.add_addr_signal_max":   4,
	"mptcp_info.add_addr_accepted_max": 5,
	"mptcp_info.flags":                 8,
	"mptcp_info.token":                 12,
	"mptcp_info.write_seq":             16,
	"mptcp_info.snd_una":               24,
	"mptcp_info.rcv_nxt":               32,
	"mptcp_info.local_addr_used":       40,
	"mptcp_info.local_addr_max":        41,
	"mptcp_info.csum_enabled":          42,
	"mptcp_info.retransmits":           44,
	"mptcp_info.bytes_retrans":         48,
	"mptcp_info.bytes_sent":            56,
	"mptcp_info.bytes_received":        64,
	"mptcp_info.bytes_acked":           72,
	"mptcp_info.subflows_total":        80,
	"mptcp_info.endp_laminar_max":      81,
	"mptcp_info.endp_fullmesh_max":     82,
	"mptcp_info.last_data_sent":        84,
	"mptcp_info.last_data_recv":        88,
	"mptcp_info.last_ack_recv":         92,

	"mptcp_subflow_data":              16,
	"mptcp_subflow_data.num_subflows": 4,
	"mptcp_subflow_data.size_kernel":  8,
	"mptcp_subflow_data.size_user":    12,

	"mptcp_subflow_addrs":      256,
	"mptcp_subflow_info":       264,
	"mptcp_subflow_info.addrs": 8,

	"mptcp_full_info":                    136,
	"mptcp_full_info.size_tcpinfo_user":  4,
	"mptcp_full_info.size_sfinfo_kernel": 8,
	"mptcp_full_info.size_sfinfo_user":   12,
	"mptcp_full_info.num_subflows":       16,
	"mptcp_full_info.size_arrays_user":   20,
	"mptcp_full_info.subflow_info":       24,
	"mptcp_full_info.tcp_info":           32,
	"mptcp_full_info.mptcp_info":         40,
}

// goLayout measures the Go mirrors with the same keys.
func goLayout() map[string]uintptr {
	var i Info
	var d subflowData
	var sf subflowInfo
	var f fullInfo
	return map[string]uintptr{
		"mptcp_info":                       unsafe.Sizeof(i),
		"mptcp_info.subflows":              unsafe.Offsetof(i.ExtraSubflows),
		"mptcp_info.add_addr_signal":       unsafe.Offsetof(i.AddAddrSignal),
		"mptcp_info.add_addr_accepted":     unsafe.Offsetof(i.AddAddrAccepted),
		"mptcp_info.subflows_max":          unsafe.Offsetof(i.SubflowsMax),
		"mptcp_info.add_addr_signal_max":   unsafe.Offsetof(i.AddAddrSignalMax),
		"mptcp_info.add_addr_accepted_max": unsafe.Offsetof(i.AddAddrAcceptedMax),
		"mptcp_info.flags":                 unsafe.Offsetof(i.Flags),
		"mptcp_info.token":                 unsafe.Offsetof(i.Token),
		"mptcp_info.write_seq":             unsafe.Offsetof(i.WriteSeq),
		"mptcp_info.snd_una":               unsafe.Offsetof(i.SndUna),
		"mptcp_info.rcv_nxt":               unsafe.Offsetof(i.RcvNxt),
		"mptcp_info.local_addr_used":       unsafe.Offsetof(i.LocalAddrUsed),
		"mptcp_info.local_addr_max":        unsafe.Offsetof(i.LocalAddrMax),
		"mptcp_info.csum_enabled":          unsafe.Offsetof(i.CsumEnabled),
		"mptcp_info.retransmits":           unsafe.Offsetof(i.Retransmits),
		"mptcp_info.bytes_retrans":         unsafe.Offsetof(i.BytesRetrans),
		"mptcp_info.bytes_sent":            unsafe.Offsetof(i.BytesSent),
		"mptcp_info.bytes_received":        unsafe.Offsetof(i.BytesReceived),
		"mptcp_info.bytes_acked":           unsafe.Offsetof(i.BytesAcked),
		"mptcp_info.subflows_total":        unsafe.Offsetof(i.SubflowsTotal),
		"mptcp_info.endp_laminar_max":      unsafe.Offsetof(i.EndpLaminarMax),
		"mptcp_info.endp_fullmesh_max":     unsafe.Offsetof(i.EndpFullmeshMax),
		"mptcp_info.last_data_sent":        unsafe.Offsetof(i.LastDataSent),
		"mptcp_info.last_data_recv":        unsafe.Offsetof(i.LastDataRecv),
		"mptcp_info.last_ack_recv":         unsafe.Offsetof(i.LastAckRecv),

		"mptcp_subflow_data":              unsafe.Sizeof(d),
		"mptcp_subflow_data.num_subflows": unsafe.Offsetof(d.NumSubflows),
		"mptcp_subflow_data.size_kernel":  unsafe.Offsetof(d.SizeKernel),
		"mptcp_subflow_data.size_user":    unsafe.Offsetof(d.SizeUser),

		"mptcp_subflow_addrs":      unsafe.Sizeof(sf.Addrs),
		"mptcp_subflow_info":       unsafe.Sizeof(sf),
		"mptcp_subflow_info.addrs": unsafe.Offsetof(sf.Addrs),

		"mptcp_full_info":                    unsafe.Sizeof(f),
		"mptcp_full_info.size_tcpinfo_user":  unsafe.Offsetof(f.SizeTCPInfoUser),
		"mptcp_full_info.size_sfinfo_kernel": unsafe.Offsetof(f.SizeSfInfoKernel),
		"mptcp_full_info.size_sfinfo_user":   unsafe.Offsetof(f.SizeSfInfoUser),
		"mptcp_full_info.num_subflows":       unsafe.Offsetof(f.NumSubflows),
		"mptcp_full_info.size_arrays_user":   unsafe.Offsetof(f.SizeArraysUser),
		"mptcp_full_info.subflow_info":       unsafe.Offsetof(f.SubflowInfo),
		"mptcp_full_info.tcp_info":           unsafe.Offsetof(f.TCPInfo),
		"mptcp_full_info.mptcp_info":         unsafe.Offsetof(f.Info),
	}
}

func TestLayoutMatchesKernelTable(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the table is for 64-bit ABIs")
	}
	got := goLayout()
	if len(got) != len(kernelLayout) {
		t.Fatalf("%d Go entries for %d kernel entries", len(got), len(kernelLayout))
	}
	for k, want := range kernelLayout {
		if got[k] != want {
			t.Errorf("%s: Go %d, kernel %d", k, got[k], want)
		}
	}
	for name, size := range map[string]uintptr{
		"SizeofInfo": SizeofInfo, "sizeofSubflowData": sizeofSubflowData,
		"sizeofSubflowAddrs": sizeofSubflowAddrs, "sizeofSubflowInfo": sizeofSubflowInfo,
		"sizeofFullInfo": sizeofFullInfo,
	} {
		key := map[string]string{"SizeofInfo": "mptcp_info", "sizeofSubflowData": "mptcp_subflow_data",
			"sizeofSubflowAddrs": "mptcp_subflow_addrs", "sizeofSubflowInfo": "mptcp_subflow_info",
			"sizeofFullInfo": "mptcp_full_info"}[name]
		if size != kernelLayout[key] {
			t.Errorf("%s = %d, kernel %d", name, size, kernelLayout[key])
		}
	}
	if sizeofFullInfoHead != kernelLayout["mptcp_full_info.mptcp_info"] {
		t.Errorf("full info head %d", sizeofFullInfoHead)
	}
}
