package sockdiag

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runChild does the job a parent test asked for and returns the exit code:
//
//	dump     dump the namespace and print what the child is and saw:
//	         "id <ruid> <euid> <CapEff>", then "sock <cookie> <infolen> <token>"
//	         per socket, in hexadecimal (TestUnprivileged)
//	hold N   open N MPTCP loopback connections, print "ready", and keep
//	         them until standard input closes (the foreign sockets of the
//	         benchmarks)
func runChild(job string) int {
	f := strings.Fields(job)
	switch {
	case len(f) == 1 && f[0] == "dump":
		return childDump()
	case len(f) == 2 && f[0] == "hold":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		return childHold(n)
	}
	fmt.Fprintf(os.Stderr, "unknown child job %q\n", job)
	return 2
}

func childDump() int {
	fmt.Printf("id %d %d %s\n", os.Getuid(), os.Geteuid(), capEff())
	d, err := Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Open:", err)
		return 1
	}
	defer d.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if _, err := d.Dump(func(s *Socket) {
		fmt.Fprintf(w, "sock %x %d %x\n", s.Cookie, s.InfoLen, s.Info.Token)
	}); err != nil {
		fmt.Fprintln(os.Stderr, "Dump:", err)
		return 1
	}
	return 0
}

func childHold(n int) int {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln := l.(*net.TCPListener)
	conns, err := dialPairs(ln, n)
	ln.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// capEff returns the CapEff line of /proc/self/status: the effective
// capabilities, in hexadecimal.
func capEff() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// childBinary copies the test binary to a directory everyone can read and
// enter, so that it can also run as an unprivileged user (the go tool
// builds it in a directory only its owner may enter).
func childBinary(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sockdiag-child")
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
	bin := filepath.Join(dir, "sockdiag.test")
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

// childCmd returns a command that runs job in a child process.
func childCmd(bin, job string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.Dir = filepath.Dir(bin)
	// GORACE: a race-enabled binary otherwise waits a second at exit.
	cmd.Env = append(os.Environ(), childEnv+"="+job, "GORACE=atexit_sleep_ms=0")
	return cmd
}

// asNobody makes cmd run as user and group 65534 with no supplementary
// groups, what `setpriv --reuid=65534 --regid=65534 --clear-groups` does:
// the kernel clears the capabilities of a process whose user ids all
// become non-zero.
func asNobody(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
}
