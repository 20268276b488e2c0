package mptcpinfo_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Read works on any MPTCP socket, without the rest of mptcpx: here a
// connection of package net, with MPTCP asked for on both ends.
func ExampleReader_Read() {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	d.SetMultipathTCP(true)
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	var r mptcpinfo.Reader   // reusable: its buffers serve every Read
	var s mptcpinfo.Snapshot // reusable: Read overwrites it
	if err := r.Read(rc, &s); err != nil {
		log.Fatal(err) // ErrNotSupported outside Linux
	}
	if !s.MPTCP {
		fmt.Println("plain TCP; fell back from MPTCP:", s.Fallback)
		return
	}
	fmt.Printf("token %08x, %d subflows, read by %v\n", s.Info.Token, len(s.Subflows), s.Method)
	if s.Has(mptcpinfo.FieldBytes) { // Linux 6.5 and later
		fmt.Println("bytes sent:", s.Info.BytesSent, "received:", s.Info.BytesReceived)
	}
	for _, sf := range s.Subflows {
		ti := &sf.TCPInfo // the subflow's tcp_info, with Go names
		fmt.Printf("subflow %d %v -> %v: rtt %v, cwnd %d segments, %d retransmitted, %d bytes sent\n",
			sf.ID, sf.Local, sf.Remote, sf.RTT(), ti.SndCwnd, ti.TotalRetrans, ti.BytesSent)
	}
}

// Has tells what the kernel filled in, so that a field it does not report
// is never read as zero. Here, a Snapshot as Linux 6.7 fills it: 88 bytes
// of mptcp_info (no last_data_*, from 6.10) and 248 of tcp_info (no AccECN
// counters, from 6.18).
func ExampleSnapshot_Has() {
	s := mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, InfoLen: 88, TCPInfoLen: 248}
	for f := mptcpinfo.FieldLocalAddrUsed; f <= mptcpinfo.FieldTCPAccECN; f++ {
		fmt.Printf("%-15v %v\n", f, s.Has(f))
	}
	// Output:
	// local_addr_used true
	// csum_enabled    true
	// bytes           true
	// subflows_total  true
	// last_data       false
	// subflow_list    true
	// subflow_id      true
	// tcp_info        true
	// tcp_rcv_wnd     true
	// tcp_total_rto   true
	// tcp_accecn      false
}

// KernelMethod says how the running kernel lets MPTCP statistics be read.
func ExampleKernelMethod() {
	switch mptcpinfo.KernelMethod() {
	case mptcpinfo.MethodFullInfo:
		fmt.Println("Linux 6.5 or later: everything in one getsockopt")
	case mptcpinfo.MethodSplit:
		fmt.Println("Linux 5.16 to 6.4: subflows without ids, no byte counters")
	default:
		fmt.Println("no MPTCP statistics; MPTCP sockets:", mptcpinfo.Available())
	}
}
