//go:build linux && cgo

// Package cheaders reports sizes and offsets of the MPTCP and TCP structures
// as the system's C headers (linux/mptcp.h, linux/tcp.h) declare them, so the
// layout test can check the Go mirrors against them. System headers may be
// older than the running kernel: only the fields they declare are reported.
package cheaders

/*
#include <linux/mptcp.h>
#include <linux/tcp.h>
*/
import "C"

import "unsafe"

// Layout maps "struct.field" to a field's byte offset, and "struct" to the
// structure's size.
func Layout() map[string]uintptr {
	var info C.struct_mptcp_info
	var sfd C.struct_mptcp_subflow_data
	var addrs C.struct_mptcp_subflow_addrs
	var tcp C.struct_tcp_info
	return map[string]uintptr{
		"mptcp_info.subflows":             unsafe.Offsetof(info.mptcpi_subflows),
		"mptcp_info.add_addr_signal":      unsafe.Offsetof(info.mptcpi_add_addr_signal),
		"mptcp_info.add_addr_accepted":    unsafe.Offsetof(info.mptcpi_add_addr_accepted),
		"mptcp_info.subflows_max":         unsafe.Offsetof(info.mptcpi_subflows_max),
		"mptcp_info.flags":                unsafe.Offsetof(info.mptcpi_flags),
		"mptcp_info.token":                unsafe.Offsetof(info.mptcpi_token),
		"mptcp_info.write_seq":            unsafe.Offsetof(info.mptcpi_write_seq),
		"mptcp_info.snd_una":              unsafe.Offsetof(info.mptcpi_snd_una),
		"mptcp_info.rcv_nxt":              unsafe.Offsetof(info.mptcpi_rcv_nxt),
		"mptcp_info.local_addr_used":      unsafe.Offsetof(info.mptcpi_local_addr_used),
		"mptcp_info.local_addr_max":       unsafe.Offsetof(info.mptcpi_local_addr_max),
		"mptcp_info.csum_enabled":         unsafe.Offsetof(info.mptcpi_csum_enabled),
		"mptcp_subflow_data":              unsafe.Sizeof(sfd),
		"mptcp_subflow_data.num_subflows": unsafe.Offsetof(sfd.num_subflows),
		"mptcp_subflow_data.size_kernel":  unsafe.Offsetof(sfd.size_kernel),
		"mptcp_subflow_data.size_user":    unsafe.Offsetof(sfd.size_user),
		"mptcp_subflow_addrs":             unsafe.Sizeof(addrs),
		"tcp_info.rtt":                    unsafe.Offsetof(tcp.tcpi_rtt),
		"tcp_info.rttvar":                 unsafe.Offsetof(tcp.tcpi_rttvar),
		"tcp_info.snd_cwnd":               unsafe.Offsetof(tcp.tcpi_snd_cwnd),
		"tcp_info.total_retrans":          unsafe.Offsetof(tcp.tcpi_total_retrans),
		"tcp_info.bytes_acked":            unsafe.Offsetof(tcp.tcpi_bytes_acked),
		"tcp_info.bytes_received":         unsafe.Offsetof(tcp.tcpi_bytes_received),
		"tcp_info.min_rtt":                unsafe.Offsetof(tcp.tcpi_min_rtt),
		"tcp_info.delivery_rate":          unsafe.Offsetof(tcp.tcpi_delivery_rate),
		"tcp_info.bytes_sent":             unsafe.Offsetof(tcp.tcpi_bytes_sent),
		"tcp_info.bytes_retrans":          unsafe.Offsetof(tcp.tcpi_bytes_retrans),
	}
}
