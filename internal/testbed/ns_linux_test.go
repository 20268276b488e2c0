package testbed

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNetns returns the identity (inode) of the calling thread's network
// namespace.
func threadNetns(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func fileIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func interfaceNames(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

// TestDo checks that fn runs in the namespace, that errors and panics come
// back to the caller, and that no thread is left in the namespace.
func TestDo(t *testing.T) {
	b := New(t, Config{Paths: 2})
	runtime.LockOSThread()
	home := threadNetns(t)
	runtime.UnlockOSThread()

	want := fileIno(t, netnsDir+"/"+b.Client.Name())
	var inside uint64
	var names []string
	if err := b.Client.Do(func() error {
		inside = threadNetns(t)
		names = interfaceNames(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside != want || inside == home {
		t.Errorf("inside Do the thread's namespace is %d, want %d (the bed's; the test's is %d)", inside, want, home)
	}
	if strings.Join(names, ",") != "lo,mpx0,mpx1" {
		t.Errorf("interfaces inside Do: %v, want lo, mpx0, mpx1", names)
	}
	for _, name := range interfaceNames(t) {
		if strings.HasPrefix(name, "mpx") {
			t.Errorf("interface %s is visible outside the namespace", name)
		}
	}

	errSentinel := errors.New("sentinel")
	if err := b.Client.Do(func() error { return errSentinel }); !errors.Is(err, errSentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	if err := b.Client.Do(func() error { runtime.Goexit(); return nil }); !errors.Is(err, errDoGoexit) {
		t.Errorf("Do with runtime.Goexit returned %v, want errDoGoexit", err)
	}
	func() {
		defer func() {
			v := recover()
			if s, _ := v.(string); !strings.Contains(s, "boom") || !strings.Contains(s, b.Client.Name()) {
				t.Errorf("Do re-panicked with %v, want fn's panic value and the namespace", v)
			}
		}()
		_ = b.Client.Do(func() error { panic("boom") })
		t.Error("Do did not re-panic")
	}()

	// Many concurrent calls in both namespaces, then every thread the
	// runtime has must be back home.
	var wg sync.WaitGroup
	for i := range 200 {
		ns := b.Client
		if i%2 == 1 {
			ns = b.Server
		}
		wg.Go(func() {
			if err := ns.Do(func() error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got := threadNetns(t); got != home {
				t.Errorf("a thread of the process is in namespace %d after Do, want %d", got, home)
			}
		})
	}
	wg.Wait()
}

// TestRun checks that commands run in the namespace and that failures name
// the namespace, the command and its output.
func TestRun(t *testing.T) {
	b := New(t, Config{Paths: 3})
	out, err := b.Server.Run("ip", "-o", "addr", "show", "dev", Iface(2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, b.ServerAddr(2).String()+"/24") {
		t.Errorf("ip addr in Server: %q, want %s", out, b.ServerAddr(2))
	}
	out, err = b.Client.Run("sh", "-c", "echo something went wrong; exit 3")
	if err == nil {
		t.Fatal("Run of a failing command returned no error")
	}
	for _, want := range []string{b.Client.Name(), "sh -c", "exit status 3", "something went wrong"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if out != "something went wrong\n" {
		t.Errorf("output %q", out)
	}
	if _, err := b.Client.Run("/nonexistent/tool"); err == nil {
		t.Error("Run of a missing program returned no error")
	}
	if _, err := b.Client.Run(); err == nil {
		t.Error("Run without a command returned no error")
	}
	out, err = b.Client.Run("ip", "mptcp", "limits")
	if err != nil || !strings.Contains(out, "subflows 8") || !strings.Contains(out, "add_addr_accepted 8") {
		t.Errorf("ip mptcp limits in Client: %q, %v", out, err)
	}
	out, err = b.Client.Run("ip", "mptcp", "endpoint", "show")
	if err != nil || !strings.Contains(out, b.ClientAddr(2).String()+" id 2 subflow dev mpx2") {
		t.Errorf("ip mptcp endpoint show in Client: %q, %v", out, err)
	}
	out, err = b.Client.Run("sysctl", "-n", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.mpx1.rp_filter")
	if err != nil || out != "0\n0\n" {
		t.Errorf("rp_filter in Client: %q, %v", out, err)
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/conf/mpx1"); err == nil {
		t.Error("the bed's interface mpx1 is visible outside its namespace")
	}
}
