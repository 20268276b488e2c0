package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the run if the demo leaves goroutines or file descriptors
// behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, follow.Settle) }

func testConfig(paths int) config {
	return config{Duration: time.Second, Paths: paths, Interval: 100 * time.Millisecond, Clients: 2, Size: 2 << 20}
}

// runDemo runs the demo and returns its report.
func runDemo(t *testing.T, cfg config) string {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v\nreport so far:\n%s", err, out.String())
	}
	t.Logf("report:\n%s", out.String())
	return out.String()
}

// subflowLine matches a subflow line of the report.
var subflowLine = regexp.MustCompile(`(?m)^    subflow (\d+)  (\S+) -> (\S+)  rtt \S+  sent ([0-9.]+ \S*B)  received ([0-9.]+ \S*B)`)

// endLine matches the summary line of one end of a connection.
var endLine = regexp.MustCompile(`(?m)^  (client|server) (\S+) -> (\S+)  (MPTCP  token 0x[0-9a-f]{8}  subflows max (\d+)|fallback \((\w+)\))`)

func nonZero(size string) bool { return !strings.HasPrefix(size, "0 ") }

// TestDemoLoopback runs the loopback demo for a second: both ends of the
// MPTCP connections are reported as MPTCP with one subflow that carried
// data, and the two fallback connections (a plain client, a plain server)
// are reported as fallbacks with their reason.
func TestDemoLoopback(t *testing.T) {
	testenv.RequireMPTCP(t)
	report := runDemo(t, testConfig(1))

	if !strings.HasPrefix(report, "mptcpx demo: HTTP over Multipath TCP on loopback, 1s\n") {
		t.Errorf("first line: want the loopback title")
	}
	if m := regexp.MustCompile(`transfer: 2 clients, (\d+) downloads \+ (\d+) uploads`).FindStringSubmatch(report); m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("transfer line: want downloads and uploads, got %q", m)
	}

	ends := endLine.FindAllStringSubmatch(report, -1)
	var mptcp, clientFallback, serverFallback int
	for _, e := range ends {
		switch {
		case e[5] != "":
			mptcp++
			if e[5] != "1" {
				t.Errorf("%s: subflows max %s on loopback, want 1", e[0], e[5])
			}
		case e[6] == "not_negotiated" && e[1] == "client":
			clientFallback++
		case e[6] == "not_negotiated" && e[1] == "server":
			serverFallback++
		default:
			t.Errorf("unexpected connection end: %s", e[0])
		}
	}
	// Two MPTCP clients, each seen from both ends.
	if mptcp != 4 {
		t.Errorf("MPTCP connection ends: got %d, want 4", mptcp)
	}
	if clientFallback != 1 || serverFallback != 1 {
		t.Errorf("fallbacks: %d client, %d server; want 1 and 1", clientFallback, serverFallback)
	}

	subflows := subflowLine.FindAllStringSubmatch(report, -1)
	if len(subflows) != 4 {
		t.Errorf("subflow lines: got %d, want 4 (one per MPTCP end)", len(subflows))
	}
	for _, sf := range subflows {
		if sf[1] != "1" {
			t.Errorf("%s: want subflow id 1", sf[0])
		}
		if !strings.HasPrefix(sf[2], "127.0.0.1:") || !strings.HasPrefix(sf[3], "127.0.0.1:") {
			t.Errorf("%s: want loopback addresses", sf[0])
		}
		if !nonZero(sf[4]) || !nonZero(sf[5]) {
			t.Errorf("%s: every subflow both sent and received requests or data", sf[0])
		}
	}
	for _, want := range []string{"subflow 1 added", "fallback (not_negotiated)", "closed", "this demo installs no SDK, so\nnothing is exported"} {
		if !strings.Contains(report, want) {
			t.Errorf("report does not mention %q", want)
		}
	}
}

// TestDemoPaths runs the demo between two network namespaces joined by two
// links: every MPTCP end has two subflows, the second one from the client's
// second address, data went over it, and the namespaces are gone after.
func TestDemoPaths(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	report := runDemo(t, testConfig(2))

	if !strings.HasPrefix(report, "mptcpx demo: HTTP over Multipath TCP between two network namespaces joined by 2 links") {
		t.Errorf("first line: want the namespaces title")
	}
	mptcp := 0
	for _, e := range endLine.FindAllStringSubmatch(report, -1) {
		if e[5] != "" {
			mptcp++
			if e[5] != "2" {
				t.Errorf("%s: want subflows max 2", e[0])
			}
		}
	}
	if mptcp != 4 {
		t.Errorf("MPTCP connection ends: got %d, want 4", mptcp)
	}
	second, carried := 0, false
	for _, sf := range subflowLine.FindAllStringSubmatch(report, -1) {
		if sf[1] != "2" {
			continue
		}
		second++
		client := sf[2]
		if strings.HasPrefix(sf[2], "10.99.0.2:") { // the server end lists itself first
			client = sf[3]
		}
		if !strings.HasPrefix(client, "10.99.1.1:") {
			t.Errorf("%s: the second subflow should start at the client's second address 10.99.1.1", sf[0])
		}
		carried = carried || nonZero(sf[4]) && nonZero(sf[5])
	}
	if second != 4 {
		t.Errorf("second subflows: got %d, want 4 (one per MPTCP end)", second)
	}
	if !carried {
		t.Errorf("no second subflow carried data both ways")
	}

	for _, suffix := range []string{"-client", "-server"} {
		name := filepath.Join("/run/netns", "mptcpx-demo-"+strconv.Itoa(os.Getpid())+suffix)
		if _, err := os.Stat(name); err == nil {
			t.Errorf("%s still exists after the demo", name)
		}
	}
}

// TestDemoUsage: configurations the demo refuses, as usage errors (exit
// code 2), before anything is opened.
func TestDemoUsage(t *testing.T) {
	for _, cfg := range []config{
		{Duration: time.Second, Paths: 9, Interval: time.Second, Clients: 1, Size: 1},
		{Duration: time.Second, Paths: 0, Interval: time.Second, Clients: 1, Size: 1},
		{Duration: 0, Paths: 1, Interval: time.Second, Clients: 1, Size: 1},
		{Duration: time.Second, Paths: 1, Interval: 0, Clients: 1, Size: 1},
	} {
		var out strings.Builder
		err := run(context.Background(), cfg, &out)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%+v: got %v, want a usage error", cfg, err)
		}
		if out.Len() != 0 {
			t.Errorf("%+v: wrote %q", cfg, out.String())
		}
	}
}

// disabledEnv marks the child process of TestDemoMPTCPDisabled, which runs
// in a network namespace where MPTCP is disabled.
const disabledEnv = "MPTCPX_DEMO_MPTCP_DISABLED"

// TestDemoMPTCPDisabled runs the loopback demo in a network namespace with
// net.mptcp.enabled=0 (in a child process started there, so that every
// socket the demo opens is in it): every connection is reported as plain
// TCP because MPTCP is disabled on this host, with the sysctl that turns it
// on, and none as MPTCP.
func TestDemoMPTCPDisabled(t *testing.T) {
	if os.Getenv(disabledEnv) == "1" {
		report := runDemo(t, testConfig(1))
		if n := strings.Count(report, "MPTCP  token"); n != 0 {
			t.Errorf("%d ends reported as MPTCP with MPTCP disabled", n)
		}
		ends := endLine.FindAllStringSubmatch(report, -1)
		if len(ends) < 4 {
			t.Errorf("%d connection ends in the report, want at least 4", len(ends))
		}
		for _, e := range ends {
			if e[6] != "mptcp_unavailable" {
				t.Errorf("%s: want fallback (mptcp_unavailable)", e[0])
			}
		}
		if !strings.Contains(report, "MPTCP is disabled on this host (turn it on with sysctl net.mptcp.enabled=1)") {
			t.Error("the report does not say that MPTCP is disabled, nor how to turn it on")
		}
		return
	}
	testenv.RequireRoot(t)
	ns := "mptcpx-demo-" + strconv.Itoa(os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.mptcp.enabled=0")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run", "^TestDemoMPTCPDisabled$", "-test.v")
	cmd.Env = append(os.Environ(), disabledEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child in namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDemoMPTCPDisabled") {
		t.Fatalf("the demo with MPTCP disabled: %v", err)
	}
}

// TestDemoBlackhole runs the demo between namespaces whose server drops
// the SYNs that carry MPTCP (-blackhole): every MPTCP dial is reported as
// a fallback of reason blackhole, and the report says how to see it and
// how to end it.
func TestDemoBlackhole(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	if _, err := exec.LookPath("nft"); err != nil {
		if testenv.KernelMatrix() {
			t.Skip("no nft(8) in the kernel matrix's virtual machines")
		}
		testenv.Skip(t, "-blackhole needs nft(8) (Debian package nftables)")
	}
	if _, err := os.Stat("/proc/sys/net/mptcp/blackhole_timeout"); err != nil {
		t.Skip("no blackhole detection before Linux 6.12")
	}
	cfg := testConfig(2)
	cfg.Blackhole = true
	report := runDemo(t, cfg)
	ends := endLine.FindAllStringSubmatch(report, -1)
	blackholes := 0
	for _, e := range ends {
		if e[1] == "client" && e[6] != "" {
			if e[6] != "blackhole" {
				t.Errorf("%s: want fallback (blackhole)", e[0])
			}
			blackholes++
		}
		if e[5] != "" {
			t.Errorf("%s: MPTCP through the blackhole", e[0])
		}
	}
	if blackholes != 3 { // two MPTCP clients, and the MPTCP client of the plain server
		t.Errorf("%d clients reported as blackhole fallbacks, want 3", blackholes)
	}
	for _, want := range []string{"nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled", "sysctl -w net.mptcp.blackhole_timeout=3600"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
	var out strings.Builder
	var ue *usageError
	if err := run(context.Background(), config{Duration: time.Second, Paths: 1, Interval: time.Second, Clients: 1, Size: 1, Blackhole: true}, &out); !errors.As(err, &ue) {
		t.Errorf("-blackhole on loopback: %v, want a usage error", err)
	}
}

// pathsLine matches a diagnosis line of the report and the command after it.
var pathsLine = regexp.MustCompile(`(?m)^    paths   (\w+): (.+)\n    to change it: (.+)$`)

// TestDemoPathsLimit: on loopback, each MPTCP end whose paths something
// limits says what, with a command; between namespaces with an endpoint
// per link, nothing limits them.
func TestDemoPathsLimit(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	report := runDemo(t, testConfig(2))
	if m := pathsLine.FindAllString(report, -1); len(m) != 0 {
		t.Errorf("namespaces with an endpoint per link: diagnoses %q, want none", m)
	}
	report = runDemo(t, testConfig(1))
	for _, m := range pathsLine.FindAllStringSubmatch(report, -1) {
		if m[3] == "" {
			t.Errorf("%q: no command", m[0])
		}
	}
}
