package mptcpinfo

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestKernelFeatureReport prints what the running kernel gives, as seen
// through this package on real connections, in the MPTCPX-FEATURE lines
// that scripts/kernel-matrix collects into the README's feature table. It
// checks that the report is consistent with the kernel-version ladder.
func TestKernelFeatureReport(t *testing.T) {
	report := func(name, value string) { fmt.Printf("MPTCPX-FEATURE %s=%s\n", name, value) }
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, IPPROTO_MPTCP)
	if err != nil {
		for _, f := range []string{"method", "subflow_list", "subflow_ids", "tcp_info", "connection_byte_counters", "fallback_detection", "last_data"} {
			report(f, "no (no MPTCP socket: "+err.Error()+")")
		}
		if Available() {
			t.Error("Available() with no MPTCP socket")
		}
		return
	}
	syscall.Close(fd)
	report("method", KernelMethod().String())

	p := dialPair(t, "tcp4", true, true)
	p.client.Write([]byte("x"))
	p.server.Read(make([]byte, 1))
	time.Sleep(10 * time.Millisecond)
	s := read(t, &Reader{}, p.client)
	report("subflow_list", yesNo(s.Has(FieldSubflowList) && len(s.Subflows) == 1))
	report("subflow_ids", yesNo(s.Has(FieldSubflowID) && s.Subflows[0].ID == 1))
	tcp := "no"
	if s.Has(FieldTCPInfo) {
		tcp = fmt.Sprintf("yes (%d bytes)", s.TCPInfoLen)
	}
	report("tcp_info", tcp)
	report("connection_byte_counters", yesNo(s.Has(FieldBytes) && s.Info.BytesSent == 1))
	report("last_data", yesNo(s.Has(FieldLastData)))

	client := read(t, &Reader{}, dialPair(t, "tcp4", true, false).client)
	server := read(t, &Reader{}, dialPair(t, "tcp4", false, true).server)
	var fb string
	switch {
	case client.Fallback && !server.MPTCP:
		fb = "yes (client: EOPNOTSUPP/ENOPROTOOPT; server: SO_PROTOCOL)"
	case !server.MPTCP:
		fb = "server side only (SO_PROTOCOL)"
	default:
		fb = "no"
	}
	report("fallback_detection", fb)

	// The ladder: what each rung must and must not give.
	switch KernelMethod() {
	case MethodFullInfo:
		if !s.Has(FieldSubflowID) || !s.Has(FieldBytes) || !client.Fallback {
			t.Errorf("MPTCP_FULL_INFO kernel without ids, byte counters or fallback detection: %+v", s)
		}
	case MethodSplit:
		if s.Has(FieldSubflowID) || !s.Has(FieldSubflowList) || !client.Fallback {
			t.Errorf("5.16 to 6.4 kernel: %+v", s)
		}
	case MethodProtocol:
		if s.Has(FieldSubflowList) || client.Fallback {
			t.Errorf("kernel before 5.16 reports subflows or a fallback: %+v", s)
		}
	}
}
