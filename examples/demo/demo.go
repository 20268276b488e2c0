package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mptcpx/mptcpx"
)

// config is what the command line sets.
type config struct {
	Duration time.Duration // how long the MPTCP clients transfer
	Paths    int           // 1: loopback; 2 or more: network namespaces joined by that many links
	Interval time.Duration // mptcpx sampling interval
	Clients  int           // concurrent MPTCP HTTP clients, one connection each
	Size     int64         // bytes per download and per upload
	// Blackhole makes the server's namespace drop the SYNs that carry
	// MP_CAPABLE (nftables), as a middlebox that does not know MPTCP may.
	Blackhole bool
}

// usageError is a configuration the demo cannot run with; main exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// maxPaths bounds -paths: the kernel's in-kernel path manager allows at
// most 8 subflows per connection.
const maxPaths = 8

// network is where the two ends of the demo live: on loopback, or in two
// network namespaces. inServer and inClient run f with the calling
// goroutine's sockets created in the server's or the client's network; a
// socket stays in the namespace it was created in.
type network struct {
	desc     string // for the report's first line
	loopback bool
	host     string // the server's address
	inServer func(f func() error) error
	inClient func(f func() error) error
	close    func() error
}

func loopback() *network {
	direct := func(f func() error) error { return f() }
	return &network{
		desc:     "on loopback",
		loopback: true,
		host:     "127.0.0.1",
		inServer: direct,
		inClient: direct,
		close:    func() error { return nil },
	}
}

// transfer counts what the HTTP clients completed.
type transfer struct {
	mu                   sync.Mutex
	downloads, uploads   int
	bytes                int64
	fallbackReqs         int
	elapsed              time.Duration
	mptcpURL, plainURL   string
	mptcpAddr, plainAddr string
}

// run starts an MPTCP HTTP server and a plain-TCP one, transfers with MPTCP
// HTTP clients for cfg.Duration, makes one plain-TCP request to the MPTCP
// server and one MPTCP request to the plain server, closes everything and
// writes the report to w. Cancelling ctx ends the transfer early; the report
// is still written.
func run(ctx context.Context, cfg config, w io.Writer) (err error) {
	if cfg.Duration <= 0 || cfg.Interval <= 0 || cfg.Clients < 1 || cfg.Size < 1 {
		return &usageError{"-duration and -interval must be positive"}
	}
	if cfg.Paths < 1 || cfg.Paths > maxPaths {
		return &usageError{fmt.Sprintf("-paths must be between 1 and %d", maxPaths)}
	}
	if cfg.Blackhole && cfg.Paths < 2 {
		return &usageError{"-blackhole drops MPTCP SYNs in the server's network namespace: it needs -paths 2 or more"}
	}
	start := time.Now()
	rec := newRecorder(start)

	nw := loopback()
	if cfg.Paths > 1 {
		if os.Geteuid() != 0 {
			return &usageError{fmt.Sprintf("-paths %d builds network namespaces and MPTCP endpoints: run it as root (sudo), or without -paths for the loopback demo", cfg.Paths)}
		}
		if nw, err = newNamespaces(cfg.Paths, cfg.Blackhole); err != nil {
			return err
		}
	}
	defer func() {
		if cerr := nw.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("tearing down the namespaces: %w", cerr))
		}
	}()

	tr := &transfer{}
	servers, err := startServers(nw, newHandler(), cfg, rec, tr)
	if err != nil {
		return err
	}
	// closeAll closes every connection, both ends, each through its Close,
	// which takes the final sample: the clients' idle connections, then the
	// servers (Shutdown closes the listeners and every idle connection).
	var transports []*http.Transport
	closed := false
	closeAll := func() error {
		if closed {
			return nil
		}
		closed = true
		for _, t := range transports {
			t.CloseIdleConnections()
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		errs = append(errs, rec.waitClosed(sctx))
		return errors.Join(errs...)
	}
	defer func() { err = errors.Join(err, closeAll()) }()

	dialOpts := []mptcpx.Option{mptcpx.WithInterval(cfg.Interval)}
	mptcpDialer := mptcpx.NewDialer(&net.Dialer{Timeout: 5 * time.Second},
		append(dialOpts, mptcpx.WithHooks(rec.tracer("HTTP client on mptcpx.NewDialer", "")))...)
	newClient := func(dial func(context.Context, string, string) (net.Conn, error)) *http.Client {
		t := &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := nw.inClient(func() (err error) {
					c, err = dial(ctx, network, addr)
					return err
				})
				return c, err
			},
			MaxConnsPerHost:    1, // one connection per client: the report stays readable
			DisableCompression: true,
		}
		transports = append(transports, t)
		return &http.Client{Transport: t}
	}
	clients := make([]*http.Client, cfg.Clients)
	for i := range clients {
		clients[i] = newClient(mptcpDialer.DialContext)
	}
	if err := tr.run(ctx, clients, cfg); err != nil {
		return err
	}

	// The fallbacks: a client that does not ask for MPTCP, and an MPTCP
	// client whose server does not answer it.
	plain := newClient((&net.Dialer{Timeout: 5 * time.Second}).DialContext)
	toPlain := newClient(mptcpx.NewDialer(&net.Dialer{Timeout: 5 * time.Second},
		append(dialOpts, mptcpx.WithHooks(rec.tracer("HTTP client on mptcpx.NewDialer", "HTTP server on net.Listen (plain TCP)")))...).DialContext)
	for _, c := range []struct {
		client *http.Client
		url    string
	}{{plain, tr.mptcpURL}, {toPlain, tr.plainURL}} {
		if ctx.Err() != nil {
			break
		}
		if err := download(ctx, c.client, c.url, 1<<20); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		tr.fallbackReqs++
	}

	if err := closeAll(); err != nil {
		return err
	}
	return writeReport(w, cfg, nw, tr, rec, ctx.Err() != nil)
}

// startServers starts the MPTCP HTTP server (mptcpx.Listen) and a plain-TCP
// one (net.Listen), both in the server's network.
func startServers(nw *network, h http.Handler, cfg config, rec *recorder, tr *transfer) ([]*http.Server, error) {
	var mln, pln net.Listener
	err := nw.inServer(func() (err error) {
		mln, err = mptcpx.Listen("tcp", net.JoinHostPort(nw.host, "0"),
			mptcpx.WithInterval(cfg.Interval),
			mptcpx.WithHooks(rec.tracer("HTTP server on mptcpx.Listen", "HTTP client on net.Dialer (plain TCP)")))
		if err != nil {
			return err
		}
		// Since Go 1.24 net.Listen asks for MPTCP by default: say no
		// explicitly to get a server that answers in plain TCP.
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		if pln, err = lc.Listen(context.Background(), "tcp", net.JoinHostPort(nw.host, "0")); err != nil {
			mln.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	tr.mptcpAddr, tr.plainAddr = mln.Addr().String(), pln.Addr().String()
	tr.mptcpURL, tr.plainURL = "http://"+tr.mptcpAddr, "http://"+tr.plainAddr
	var servers []*http.Server
	for _, ln := range []net.Listener{mln, pln} {
		s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, s)
		go s.Serve(ln) // returns http.ErrServerClosed at Shutdown
	}
	return servers, nil
}

// run has every client download and upload cfg.Size bytes in turn until
// cfg.Duration has passed (a request under way is finished) or ctx ends.
func (tr *transfer) run(ctx context.Context, clients []*http.Client, cfg config) error {
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	errc := make(chan error, len(clients))
	for _, c := range clients {
		go func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := download(ctx, c, tr.mptcpURL, cfg.Size); err != nil {
					errc <- err
					return
				}
				tr.count(&tr.downloads, cfg.Size)
				if err := upload(ctx, c, tr.mptcpURL, cfg.Size); err != nil {
					errc <- err
					return
				}
				tr.count(&tr.uploads, cfg.Size)
			}
			errc <- nil
		}()
	}
	var errs []error
	for range clients {
		if err := <-errc; err != nil && ctx.Err() == nil {
			errs = append(errs, err)
		}
	}
	tr.elapsed = time.Since(start)
	return errors.Join(errs...)
}

func (tr *transfer) count(n *int, size int64) {
	tr.mu.Lock()
	*n++
	tr.bytes += size
	tr.mu.Unlock()
}

// newHandler serves GET /download?bytes=N (N zero bytes) and POST /upload
// (reads the body, answers with its length).
func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bytes: a byte count is required", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.CopyN(w, zeros{}, n)
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, n)
	})
	return mux
}

func download(ctx context.Context, c *http.Client, base string, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/download?bytes="+strconv.FormatInt(n, 10), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || got != n) {
		err = fmt.Errorf("GET %s: %s, %d bytes of %d", req.URL, resp.Status, got, n)
	}
	return err
}

func upload(ctx context.Context, c *http.Client, base string, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/upload", io.LimitReader(zeros{}, n))
	if err != nil {
		return err
	}
	req.ContentLength = n
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || string(body) != strconv.FormatInt(n, 10)) {
		err = fmt.Errorf("POST %s: %s, server read %q bytes of %d", req.URL, resp.Status, body, n)
	}
	return err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
