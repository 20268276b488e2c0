package mptcpx_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestConnMethodSet checks that *Conn has every method of *net.TCPConn
// with the same signature, so that code written for *net.TCPConn (through
// interfaces) keeps working.
func TestConnMethodSet(t *testing.T) {
	tcp := reflect.TypeFor[*net.TCPConn]()
	conn := reflect.TypeFor[*mptcpx.Conn]()
	for i := range tcp.NumMethod() {
		m := tcp.Method(i)
		got, ok := conn.MethodByName(m.Name)
		if !ok {
			t.Errorf("*mptcpx.Conn has no method %s", m.Name)
			continue
		}
		// Drop the receiver before comparing.
		want := funcType(m.Type)
		if g := funcType(got.Type); g != want {
			t.Errorf("%s: *mptcpx.Conn has %s, *net.TCPConn has %s", m.Name, g, want)
		}
	}
	for _, name := range []string{"NetConn", "Info"} {
		if _, ok := conn.MethodByName(name); !ok {
			t.Errorf("*mptcpx.Conn has no method %s", name)
		}
	}
}

func funcType(f reflect.Type) string {
	in := make([]reflect.Type, 0, f.NumIn()-1)
	for i := 1; i < f.NumIn(); i++ {
		in = append(in, f.In(i))
	}
	out := make([]reflect.Type, f.NumOut())
	for i := range out {
		out[i] = f.Out(i)
	}
	return reflect.FuncOf(in, out, f.IsVariadic()).String()
}

func TestConnIsMPTCP(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	for name, conn := range map[string]*mptcpx.Conn{"client": c, "server": s} {
		ok, err := conn.MultipathTCP()
		if err != nil || !ok {
			t.Errorf("%s: MultipathTCP() = %v, %v; want true", name, ok, err)
		}
		if _, isTCP := conn.NetConn().(*net.TCPConn); !isTCP {
			t.Errorf("%s: NetConn() is %T, want *net.TCPConn", name, conn.NetConn())
		}
		if got, want := conn.NetConn().LocalAddr().String(), conn.LocalAddr().String(); got != want {
			t.Errorf("%s: NetConn().LocalAddr() = %s, want %s", name, got, want)
		}
	}
	if c.LocalAddr().String() != s.RemoteAddr().String() {
		t.Errorf("client local %s != server remote %s", c.LocalAddr(), s.RemoteAddr())
	}
}

// TestCopyBothWays sends 256 MiB each way at the same time through io.Copy
// and compares SHA-256 digests of what was sent and what arrived.
func TestCopyBothWays(t *testing.T) {
	testenv.CheckSockets(t)
	size := int64(256 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	c, s := pair(t)

	type result struct {
		sent, received [sha256.Size]byte
		n              int64
		err            error
	}
	// run sends size pseudo-random bytes on conn, then half-closes it,
	// while reading conn to EOF.
	run := func(conn *mptcpx.Conn, seed uint64) <-chan result {
		out := make(chan result, 1)
		go func() {
			var r result
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				h := sha256.New()
				src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), size), h)
				var n int64
				n, werr = io.Copy(conn, src)
				if werr == nil && n != size {
					werr = io.ErrShortWrite
				}
				if werr == nil {
					werr = conn.CloseWrite()
				}
				copy(r.sent[:], h.Sum(nil))
			})
			h := sha256.New()
			r.n, r.err = io.Copy(h, conn)
			copy(r.received[:], h.Sum(nil))
			wg.Wait()
			if r.err == nil {
				r.err = werr
			}
			out <- r
		}()
		return out
	}
	cr, sr := run(c, 1), run(s, 2)
	rc, rs := <-cr, <-sr
	for name, r := range map[string]result{"client": rc, "server": rs} {
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		if r.n != size {
			t.Errorf("%s received %d bytes, want %d", name, r.n, size)
		}
	}
	if rc.sent != rs.received {
		t.Errorf("client to server: sent sha256 %x, received %x", rc.sent, rs.received)
	}
	if rs.sent != rc.received {
		t.Errorf("server to client: sent sha256 %x, received %x", rs.sent, rc.received)
	}
}

// TestHalfClose checks CloseWrite: the peer reads EOF and can still answer.
func TestHalfClose(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "ping" {
		t.Fatalf("server read %q, %v; want \"ping\" then EOF", got, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatalf("server write after the client's CloseWrite: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(c)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v; want \"pong\" then EOF", got, err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
}

func TestDeadlines(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	buf := make([]byte, 8)

	// A deadline in the past fails the Read at once.
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	// A deadline in the future ends a Read that gets no data.
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read with no data: %v, want a timeout wrapping os.ErrDeadlineExceeded", err)
	}
	// Clearing the deadline makes the connection usable again.
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "late" {
		t.Fatalf("Read after clearing the deadline: %q, %v", buf[:4], err)
	}

	// Write deadlines: fill the socket buffers until Write times out.
	if err := c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	for {
		if _, err = c.Write(big); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that does not read: %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	testenv.CheckSockets(t)
	c, _ := pair(t)
	if err := c.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	for range 2 {
		err := c.Close()
		var op *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Op != "close" {
			t.Fatalf("Close again: %v, want a close *net.OpError wrapping net.ErrClosed", err)
		}
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// TestCloseRace closes a connection while other goroutines Read, Write,
// take Info samples and Close it too. Run with -race.
func TestCloseRace(t *testing.T) {
	testenv.CheckSockets(t)
	for range 20 {
		c, s := pair(t)
		go io.Copy(io.Discard, s) // keep the writer going

		var wg sync.WaitGroup
		started := make(chan struct{}, 3)
		wg.Go(func() {
			buf := make([]byte, 1024)
			started <- struct{}{}
			for {
				if _, err := c.Read(buf); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("Read: %v, want net.ErrClosed", err)
					}
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 4096)
			started <- struct{}{}
			for {
				if _, err := c.Write(buf); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("Write: %v, want net.ErrClosed", err)
					}
					return
				}
			}
		})
		wg.Go(func() {
			started <- struct{}{}
			for {
				if _, err := c.Info(); errors.Is(err, net.ErrClosed) {
					return
				}
			}
		})
		for range 3 {
			<-started
		}
		var closeErrs [3]error
		var cwg sync.WaitGroup
		for i := range closeErrs {
			cwg.Go(func() { closeErrs[i] = c.Close() })
		}
		cwg.Wait()
		wg.Wait()
		s.Close()
		nilErrs := 0
		for _, err := range closeErrs {
			switch {
			case err == nil:
				nilErrs++
			case !errors.Is(err, net.ErrClosed):
				t.Errorf("concurrent Close: %v", err)
			}
		}
		if nilErrs != 1 {
			t.Fatalf("%d of 3 concurrent Close calls returned nil, want exactly 1 (errors %v)", nilErrs, closeErrs)
		}
	}
}

func TestInfo(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	for name, conn := range map[string]*mptcpx.Conn{"client": c, "server": s} {
		snap, err := conn.Info()
		if err != nil {
			t.Fatalf("%s: Info: %v", name, err)
		}
		if !snap.MPTCP || snap.Fallback {
			t.Errorf("%s: Info: MPTCP %v, Fallback %v; want an MPTCP connection", name, snap.MPTCP, snap.Fallback)
		}
		again, err := conn.Info()
		if err != nil {
			t.Fatal(err)
		}
		if again == snap {
			t.Errorf("%s: two Info calls returned the same *Snapshot", name)
		}
	}
	c.Close()
	_, err := c.Info()
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "mptcpinfo" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Info after Close: %v, want a mptcpinfo *net.OpError wrapping net.ErrClosed", err)
	}
}

func TestNetConnSharesTheSocket(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	if _, err := c.NetConn().Write([]byte("via inner")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("via inner"))
	if _, err := io.ReadFull(s, buf); err != nil || !bytes.Equal(buf, []byte("via inner")) {
		t.Fatalf("read %q, %v", buf, err)
	}
}
