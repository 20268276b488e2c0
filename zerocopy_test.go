package mptcpx_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// readSyscalls returns how many read-like system calls the process has
// made so far (syscr in /proc/self/io, all threads). read(2) counts, and so
// does sendfile(2) (once per call), but splice(2) does not.
func readSyscalls(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no per-process I/O accounting: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("syscr: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// hidden has only the Read method of the reader it holds: io.Copy from it
// cannot take a zero-copy path.
type hidden struct{ io.Reader }

// TestZeroCopy checks that io.Copy through *Conn values takes splice(2)
// (or sendfile(2)), not a read/write loop through user space. It counts
// the process's read system calls while copying 64 MiB: a read loop makes
// one per 32 KiB at most, so at least 2048; splice makes none. Each case
// is checked against a control that hides the types and must be slow.
func TestZeroCopy(t *testing.T) {
	testenv.CheckSockets(t)
	const size = 64 << 20
	const loopReads = size / (32 << 10)

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()

	// relay measures the read system calls made while size bytes travel
	// writer -> (pair 1) -> copy(dst, src) -> (pair 2) -> /dev/null. The
	// writer uses write(2) and the sink splices to /dev/null, so only copy
	// can add reads.
	relay := func(t *testing.T, copy func(dst, src *mptcpx.Conn) (int64, error)) int64 {
		t.Helper()
		in, src := pair(t)
		dst, out := pair(t)
		sunk := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(devNull, out) // splice socket -> pipe -> /dev/null
			sunk <- n
		}()
		wrote := make(chan error, 1)
		before := readSyscalls(t)
		go func() {
			buf := make([]byte, 1<<20)
			var err error
			for sent := 0; sent < size && err == nil; sent += len(buf) {
				_, err = in.Write(buf)
			}
			in.Close()
			wrote <- err
		}()
		n, err := copy(dst, src)
		if err != nil || n != size {
			t.Fatalf("copy: %d bytes, %v; want %d", n, err, size)
		}
		dst.CloseWrite()
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if got := <-sunk; got != size {
			t.Fatalf("sink got %d bytes, want %d", got, size)
		}
		return readSyscalls(t) - before
	}

	cases := []struct {
		name string
		copy func(dst, src *mptcpx.Conn) (int64, error)
	}{
		{"io.Copy(*Conn, *Conn)", func(dst, src *mptcpx.Conn) (int64, error) { return io.Copy(dst, src) }},
		{"(*Conn).ReadFrom(*Conn)", func(dst, src *mptcpx.Conn) (int64, error) { return dst.ReadFrom(src) }},
		{"io.Copy(*Conn, io.LimitReader(*Conn))", func(dst, src *mptcpx.Conn) (int64, error) {
			return io.Copy(dst, io.LimitReader(src, size))
		}},
		{"io.Copy(*net.TCPConn, *Conn)", func(dst, src *mptcpx.Conn) (int64, error) {
			return io.Copy(dst.NetConn(), src)
		}},
		{"io.Copy(*Conn, *net.TCPConn)", func(dst, src *mptcpx.Conn) (int64, error) {
			return io.Copy(dst, src.NetConn())
		}},
		{"(*Conn).WriteTo(*Conn)", func(dst, src *mptcpx.Conn) (int64, error) { return src.WriteTo(dst) }},
	}
	control := relay(t, func(dst, src *mptcpx.Conn) (int64, error) { return io.Copy(dst, hidden{src}) })
	t.Logf("control (read loop): %d read system calls", control)
	if control < loopReads {
		t.Fatalf("the control made %d read system calls, expected at least %d: syscr does not count socket reads here", control, loopReads)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := relay(t, c.copy)
			t.Logf("%d read system calls", n)
			if n >= loopReads/8 {
				t.Errorf("%d read system calls while copying %d bytes: the copy went through user space", n, size)
			}
		})
	}

	// *os.File -> *Conn: sendfile(2), as net/http does for files, whole
	// or through an io.LimitedReader. sendfile counts one read per call,
	// and each call moves as much as the socket buffer takes.
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, wrap func(*os.File) io.Reader) int64 {
		t.Helper()
		dst, out := pair(t)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sunk := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(devNull, out)
			sunk <- n
		}()
		before := readSyscalls(t)
		n, err := io.Copy(dst, wrap(f))
		if err != nil || n != size {
			t.Fatalf("copy: %d bytes, %v; want %d", n, err, size)
		}
		dst.CloseWrite()
		if got := <-sunk; got != size {
			t.Fatalf("sink got %d bytes, want %d", got, size)
		}
		return readSyscalls(t) - before
	}
	fileControl := send(t, func(f *os.File) io.Reader { return hidden{f} })
	t.Logf("file control (read loop): %d read system calls", fileControl)
	for name, wrap := range map[string]func(*os.File) io.Reader{
		"io.Copy(*Conn, *os.File)":                 func(f *os.File) io.Reader { return f },
		"io.Copy(*Conn, io.LimitReader(*os.File))": func(f *os.File) io.Reader { return io.LimitReader(f, size) },
	} {
		t.Run(name, func(t *testing.T) {
			n := send(t, wrap)
			t.Logf("%d read system calls", n)
			if n >= fileControl/4 {
				t.Errorf("%d read system calls while sending a %d-byte file (read loop: %d): sendfile was not used", n, size, fileControl)
			}
		})
	}
}

var _ net.Conn = (*mptcpx.Conn)(nil)

// TestReadFromNotesSourceEnd: io.Copy from one Conn to another goes through
// the destination's ReadFrom, which hands the source's socket to splice and
// so bypasses the source's Read. The source's end of stream is still noted
// (the byte counters of 5.16 to 6.4 kernels depend on it), bare and through
// an io.LimitedReader that stops short of its limit.
func TestReadFromNotesSourceEnd(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run(fmt.Sprintf("limited=%v", limited), func(t *testing.T) {
			srcClient, src := pair(t)
			dst, dstPeer := pair(t)
			go io.Copy(io.Discard, dstPeer)
			srcClient.Write(make([]byte, 1000))
			srcClient.CloseWrite()
			var r io.Reader = src
			if limited {
				r = &io.LimitedReader{R: src, N: 1 << 20}
			}
			n, err := dst.ReadFrom(r)
			if err != nil || n != 1000 {
				t.Fatalf("ReadFrom: %d bytes, %v", n, err)
			}
			if !mptcpx.EOFRead(src) {
				t.Fatal("the source's end of stream was not noted")
			}
		})
	}
	// A limit reached is not the end of the stream.
	srcClient, src := pair(t)
	dst, dstPeer := pair(t)
	go io.Copy(io.Discard, dstPeer)
	srcClient.Write(make([]byte, 1000))
	if n, err := dst.ReadFrom(&io.LimitedReader{R: src, N: 500}); err != nil || n != 500 {
		t.Fatalf("ReadFrom up to the limit: %d bytes, %v", n, err)
	}
	if mptcpx.EOFRead(src) {
		t.Fatal("the end of stream noted at a limit, before the source ended")
	}
}
