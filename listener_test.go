package mptcpx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestHTTP serves HTTP through NewListener and fetches through a Dialer's
// DialContext in an http.Transport: both ends of the connection are
// *mptcpx.Conn speaking MPTCP.
func TestHTTP(t *testing.T) {
	testenv.CheckSockets(t)
	inner := testenv.ListenMPTCP(t, "tcp", "")
	type connKey struct{}
	var mu sync.Mutex
	var serverConns []net.Conn
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			mu.Lock()
			serverConns = append(serverConns, c)
			mu.Unlock()
			return context.WithValue(ctx, connKey{}, c)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := r.Context().Value(connKey{}).(*mptcpx.Conn)
			if c == nil {
				http.Error(w, "not an *mptcpx.Conn", http.StatusInternalServerError)
				return
			}
			ok, err := c.MultipathTCP()
			if !ok || err != nil {
				http.Error(w, "not MPTCP", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "served over MPTCP")
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(mptcpx.NewListener(inner)) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	var clientConns []net.Conn
	d := mptcpx.NewDialer(&net.Dialer{Timeout: time.Minute})
	tr := &http.Transport{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, address)
		if err == nil {
			clientConns = append(clientConns, c)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for range 3 { // the second and third requests reuse the connection
		resp, err := client.Get("http://" + inner.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != "served over MPTCP" {
			t.Fatalf("GET: %s %q %v", resp.Status, body, err)
		}
	}
	if len(clientConns) != 1 {
		t.Fatalf("%d client connections, want 1", len(clientConns))
	}
	if ok, err := clientConns[0].(*mptcpx.Conn).MultipathTCP(); !ok || err != nil {
		t.Errorf("client MultipathTCP() = %v, %v", ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(serverConns) != 1 {
		t.Fatalf("%d server connections, want 1", len(serverConns))
	}
}

// TestHTTPSendfile serves a file through NewListener: net/http hands the
// *mptcpx.Conn to io.Copy, which must take sendfile(2) (see
// TestZeroCopy) and deliver the file intact.
func TestHTTPSendfile(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	data := make([]byte, 4<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()

	tr := &http.Transport{DialContext: mptcpx.NewDialer(nil).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != string(data) {
		t.Fatalf("GET: %d bytes, %v; want the %d-byte file", len(got), err, len(data))
	}
}

// TestListenerPlainClient connects a client that does not ask for MPTCP:
// Accept still returns a *Conn, plain TCP on both ends.
func TestListenerPlainClient(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverMPTCP := echoOnce(t, ln)
	c := plainDial(t, ln.Addr().String())
	roundTrip(t, c)
	if <-serverMPTCP {
		t.Error("server: MultipathTCP() = true for a plain TCP client")
	}
	if ok, _ := c.MultipathTCP(); ok {
		t.Error("client: MultipathTCP() = true for a plain TCP client")
	}
}

func TestListenerAcceptsConn(t *testing.T) {
	testenv.CheckSockets(t)
	c, s := pair(t)
	for name, conn := range map[string]*mptcpx.Conn{"client": c, "server": s} {
		if ok, err := conn.MultipathTCP(); !ok || err != nil {
			t.Errorf("%s: MultipathTCP() = %v, %v", name, ok, err)
		}
	}
}

func TestListenBadNetwork(t *testing.T) {
	testenv.CheckSockets(t)
	for _, network := range []string{"udp", "unix", "ip", "", "garbage"} {
		ln, err := mptcpx.Listen(network, "127.0.0.1:0")
		if err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded", network)
			continue
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "listen" || !strings.Contains(err.Error(), `"`+network+`"`) {
			t.Errorf("Listen(%q): %v, want a listen *net.OpError naming the network", network, err)
		}
	}
}

func TestListenBadInterval(t *testing.T) {
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithInterval(0))
	if err == nil {
		ln.Close()
		t.Fatal("Listen with WithInterval(0) succeeded")
	}
	if !strings.Contains(err.Error(), "WithInterval(0s)") {
		t.Errorf("unclear error: %v", err)
	}

	// NewListener cannot fail: Accept reports the bad option and accepts
	// nothing, so the pending connection is still there for the inner
	// listener.
	inner := plainListen(t)
	ln = mptcpx.NewListener(inner, mptcpx.WithInterval(-time.Millisecond))
	c := plainDial(t, inner.Addr().String())
	if got, err := ln.Accept(); err == nil || !strings.Contains(err.Error(), "WithInterval(-1ms)") {
		if got != nil {
			got.Close()
		}
		t.Fatalf("Accept with WithInterval(-1ms): %v", err)
	}
	s, err := inner.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("the inner listener accepted %v, want the pending %v", s.RemoteAddr(), c.LocalAddr())
	}
}

func TestListenerTCPMethods(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	nl, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := nl
	defer ln.Close()
	if _, ok := ln.NetListener().(*net.TCPListener); !ok {
		t.Fatalf("NetListener() is %T, want *net.TCPListener", ln.NetListener())
	}
	if ln.Addr().String() != ln.NetListener().Addr().String() {
		t.Errorf("Addr() = %v, inner %v", ln.Addr(), ln.NetListener().Addr())
	}

	if err := ln.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if c, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Accept past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := ln.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if proto := socketProtocol(t, rc); proto != 262 {
		t.Errorf("listener socket protocol %d, want IPPROTO_MPTCP (262)", proto)
	}

	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()

	// Close delegates: Accept then fails with net.ErrClosed.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// hiddenListener has only the net.Listener methods of the listener it holds.
type hiddenListener struct{ net.Listener }

// TestListenerOtherInner wraps listeners that are not *net.TCPListener.
func TestListenerOtherInner(t *testing.T) {
	testenv.CheckSockets(t)
	// A Unix listener: its connections pass through unchanged, and its
	// own SetDeadline, File and SyscallConn are reachable.
	path := filepath.Join(t.TempDir(), "sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln := mptcpx.NewListener(ul)
	defer ln.Close()
	if ln.Addr().String() != path {
		t.Errorf("Addr() = %v, want %s", ln.Addr(), path)
	}
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, ok := c.(*net.UnixConn); !ok {
		t.Errorf("Accept on a Unix listener returned %T, want *net.UnixConn", c)
	}
	if err := ln.SetDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Errorf("SetDeadline on a Unix listener: %v", err)
	}
	if _, err := ln.SyscallConn(); err != nil {
		t.Errorf("SyscallConn on a Unix listener: %v", err)
	}

	// A TCP listener whose extra methods are hidden: Accept still wraps
	// the *net.TCPConn; the extra methods report ErrUnsupported.
	hl := mptcpx.NewListener(hiddenListener{plainListen(t)})
	go func() {
		c, err := net.Dial("tcp", hl.Addr().String())
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err = hl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, ok := c.(*mptcpx.Conn); !ok {
		t.Errorf("Accept returned %T, want *mptcpx.Conn", c)
	}
	if err := hl.SetDeadline(time.Time{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetDeadline: %v, want errors.ErrUnsupported", err)
	}
	if _, err := hl.File(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("File: %v, want errors.ErrUnsupported", err)
	}
	if _, err := hl.SyscallConn(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SyscallConn: %v, want errors.ErrUnsupported", err)
	}
}

// TestTLS runs TLS on top: a tls.NewListener over an mptcpx listener, and
// tls.Client over a *Conn.
func TestTLS(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	cert, pool := selfSigned(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	defer tln.Close()
	serverMPTCP := make(chan bool, 1)
	go func() {
		defer close(serverMPTCP)
		c, err := tln.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			t.Errorf("server handshake: %v", err)
			return
		}
		mc, _ := tc.NetConn().(*mptcpx.Conn)
		ok := false
		if mc != nil {
			ok, _ = mc.MultipathTCP()
		}
		serverMPTCP <- ok
		io.Copy(c, c)
	}()

	nc, err := mptcpx.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "mptcpx.test"})
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "over TLS" {
		t.Fatalf("echo over TLS: %q, %v", got, err)
	}
	if !<-serverMPTCP {
		t.Error("server: the TLS connection's NetConn is not an MPTCP *mptcpx.Conn")
	}
	if ok, _ := c.NetConn().(*mptcpx.Conn).MultipathTCP(); !ok {
		t.Error("client: MultipathTCP() = false under TLS")
	}
}

// selfSigned returns a certificate for mptcpx.test and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mptcpx.test"},
		DNSNames:              []string{"mptcpx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
