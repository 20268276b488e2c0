package testbed

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// helperEnv makes the helper tests below do their part; they are run by
// other tests in a child process of the test binary.
const helperEnv = "MPTCPX_TESTBED_HELPER"

// netnsNames lists the names `ip netns list` shows.
func netnsNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// TestClose tears a bed down early and checks that both names are gone, the
// namespaces cannot be used through the bed any more, and the kernel
// destroys the veth pairs.
func TestClose(t *testing.T) {
	b := New(t, Config{Paths: 4})
	names := []string{b.Client.Name(), b.Server.Name()}
	for _, n := range names {
		if !strings.HasPrefix(n, NamePrefix) || !slices.Contains(netnsNames(t), n) {
			t.Fatalf("namespace %s is not listed by ip netns list: %v", n, netnsNames(t))
		}
	}
	// Keep the server namespace alive past Close to look inside. The
	// client namespace dies, and with its veth ends the pairs.
	held := newNS(b.Server.Name())
	if err := held.open(); err != nil {
		t.Fatal(err)
	}
	defer held.h.close()

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, n := range names {
		if slices.Contains(netnsNames(t), n) {
			t.Errorf("namespace %s is still listed after Close", n)
		}
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("%s/%s after Close: %v", netnsDir, n, err)
		}
	}
	// The kernel destroys a namespace asynchronously once its last
	// reference is gone.
	var left []string
	err := WaitFor(waitTimeout, func() (bool, error) {
		err := held.Do(func() error { left = interfaceNames(t); return nil })
		return slices.Equal(left, []string{"lo"}), err
	})
	if err != nil {
		t.Errorf("interfaces left in the server namespace after Close: %v, want only lo (the veth pairs destroyed): %v", left, err)
	}
	if err := b.Client.Do(func() error { return nil }); err == nil {
		t.Error("Do on a closed bed's namespace succeeded")
	}
	if _, err := b.Server.Run("true"); err == nil {
		t.Error("Run on a closed bed's namespace succeeded")
	}
}

// helperBinary copies the test binary to a directory everyone can read, so
// that it can also run as an unprivileged user.
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "testbed-helper")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "testbed.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// helperCmd returns a command that runs the test named test in a child
// process with helperEnv=mode.
func helperCmd(bin, test, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Dir = filepath.Dir(bin)
	// GORACE: a race-enabled binary otherwise waits a second at exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// TestHelperBed is not a test of its own: run as a child by
// TestCleanupOnPanic and TestSweep, it creates a bed, prints its names, and
// then panics or hangs.
func TestHelperBed(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode != "panic" && mode != "hang" {
		return
	}
	b := New(t, Config{Paths: 2})
	fmt.Printf("BED %s %s\n", b.Client.Name(), b.Server.Name())
	if mode == "panic" {
		panic("helper panics with a bed open")
	}
	time.Sleep(time.Minute)
}

// readBedNames reads the names TestHelperBed prints.
func readBedNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "BED" {
			return f[1:]
		}
	}
	t.Fatalf("the helper printed no bed names (%v)", sc.Err())
	return nil
}

// TestCleanupOnPanic runs a test that panics with a bed open: the test's
// cleanup still removes the bed.
func TestCleanupOnPanic(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	out, err := helperCmd(helperBinary(t), "TestHelperBed", "panic").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "helper panics with a bed open") {
		t.Fatalf("the helper did not panic: %v\n%s", err, out)
	}
	names := readBedNames(t, strings.NewReader(string(out)))
	for _, n := range names {
		if slices.Contains(netnsNames(t), n) {
			t.Errorf("namespace %s of the panicking test is still listed", n)
			removeNetnsName(n)
		}
	}
}

// TestSweep kills a test process that has a bed open, so that its cleanup
// never runs: Sweep removes the namespaces it left, and only namespaces of
// processes that are gone. Every test process sweeps at its first bed, and
// go test runs packages' processes side by side, so another one may sweep
// the killed process's namespaces before this test's Sweep does: then they
// must be gone all the same.
func TestSweep(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	cmd := helperCmd(helperBinary(t), "TestHelperBed", "hang")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	names := readBedNames(t, stdout)
	t.Cleanup(func() {
		for _, n := range names {
			removeNetnsName(n)
		}
	})
	// Listed while the helper lives: no Sweep may remove them yet.
	listed := netnsNames(t)
	for _, n := range names {
		if !slices.Contains(listed, n) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("namespace %s of the helper is not listed", n)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	live := New(t, Config{Paths: 1}) // this process's bed must survive
	removed, err := Sweep()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range removed {
		m := nameRE.FindStringSubmatch(n)
		if m == nil {
			t.Errorf("Sweep removed %s, not a bed's namespace", n)
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || processExists(pid) {
			t.Errorf("Sweep removed %s, a namespace of process %d, which is running", n, pid)
		}
	}
	if ours := slices.DeleteFunc(slices.Clone(removed), func(n string) bool { return !slices.Contains(names, n) }); len(ours) < len(names) {
		t.Logf("Sweep removed %v of the killed process's %v; another test process swept the rest first", ours, names)
	}
	listed = netnsNames(t)
	for _, n := range names {
		if slices.Contains(listed, n) {
			t.Errorf("namespace %s of the killed process still listed after Sweep", n)
		}
	}
	if !slices.Contains(listed, live.Client.Name()) || !slices.Contains(listed, live.Server.Name()) {
		t.Errorf("Sweep removed the namespaces of a live process: %v", listed)
	}
}

// TestSkipUnprivileged runs the bed tests as an unprivileged user: they skip
// and say how to run them, and fail instead when MPTCPX_STRICT=1.
func TestSkipUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	bin := helperBinary(t)
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

	cmd := helperCmd(bin, "TestMultipath", "", testenv.StrictEnv+"=0")
	cmd.SysProcAttr = nobody
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- SKIP: TestMultipath") || !strings.Contains(string(out), "run as root") {
		t.Errorf("as an unprivileged user TestMultipath did not skip with instructions: %v\n%s", err, out)
	}

	cmd = helperCmd(bin, "TestMultipath", "", testenv.StrictEnv+"=1")
	cmd.SysProcAttr = nobody
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL: TestMultipath") || !strings.Contains(string(out), testenv.StrictEnv+"=1") {
		t.Errorf("with %s=1 TestMultipath did not fail as an unprivileged user: %v\n%s", testenv.StrictEnv, err, out)
	}
}
