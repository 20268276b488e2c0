package mptcpx_test

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
)

// zeros is an endless source of zero bytes that costs nothing to read: the
// buffers io.Copy hands it are fresh and never written, so Read does not
// need to clear them.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { return len(p), nil }

// BenchmarkCopy moves 1 GiB through io.Copy over one loopback MPTCP
// connection through the *mptcpx.Conn ends ("wrapped"), and 1 GiB through
// the *net.TCPConn ends they wrap ("raw"): the same sockets, so the path
// and the kernel state are identical. The two alternate in 64 MiB chunks
// (raw, wrapped, wrapped, raw, ...) so that both see the same load on the
// machine. The sender copies from memory (io.Copy into the connection: its
// ReadFrom), the receiver into /dev/null (io.CopyN from the connection:
// splice).
//
// It reports each one's median throughput over the iterations, and
// wrapped/raw: the median, over all pairs of neighbouring chunks, of the
// wrapped chunk's throughput over the raw one's. For example:
//
//	go test -run '^$' -bench Copy -benchtime 5x -count 3
func BenchmarkCopy(b *testing.B) {
	const (
		size  = 1 << 30
		chunk = 64 << 20
	)
	client, server := pair(b)
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()

	done := make(chan error, 1)
	once := func(dst, src net.Conn) time.Duration {
		start := time.Now()
		go func() {
			_, err := io.CopyN(devNull, src, chunk)
			done <- err
		}()
		if n, err := io.Copy(dst, io.LimitReader(zeros{}, chunk)); err != nil || n != chunk {
			b.Fatalf("sent %d bytes, %v", n, err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Warm up: let TCP grow its windows and buffers before measuring, so
	// that neither variant pays for it.
	once(client, server)
	once(client.NetConn(), server.NetConn())

	var raw, wrapped []float64 // MB/s of each iteration
	var ratios []float64       // wrapped/raw throughput of each pair of chunks
	mbps := func(d time.Duration) float64 { return size / 1e6 / d.Seconds() }
	b.SetBytes(2 * size) // each iteration: 1 GiB raw and 1 GiB wrapped
	b.ReportAllocs()
	for b.Loop() {
		var r, w time.Duration
		for k := range size / chunk {
			var dr, dw time.Duration
			if k%2 == 0 {
				dr = once(client.NetConn(), server.NetConn())
				dw = once(client, server)
			} else {
				dw = once(client, server)
				dr = once(client.NetConn(), server.NetConn())
			}
			r, w = r+dr, w+dw
			ratios = append(ratios, float64(dr)/float64(dw))
		}
		raw, wrapped = append(raw, mbps(r)), append(wrapped, mbps(w))
	}
	b.ReportMetric(benchcmp.Median(raw), "raw-MB/s")
	b.ReportMetric(benchcmp.Median(wrapped), "wrapped-MB/s")
	// Neighbouring chunks share the machine's load best: the median of
	// their ratios is steadier than the ratio of the medians.
	b.ReportMetric(benchcmp.Median(ratios), "wrapped/raw")
}

// BenchmarkReadWrite writes 4 KiB on one end of a loopback MPTCP
// connection and reads them on the other, through the *net.TCPConn ends
// (the baseline) and through the *mptcpx.Conn ends that wrap them (the
// candidate), interleaved by benchcmp.Run. cand-allocs/op must be 0: Read
// and Write on a *Conn are the *net.TCPConn's own.
func BenchmarkReadWrite(b *testing.B) {
	client, server := pair(b)
	buf := make([]byte, 4<<10)
	loop := func(w, r io.ReadWriter) func(n int) {
		return func(n int) {
			for range n {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	benchcmp.Run(b, loop(client.NetConn(), server.NetConn()), loop(client, server))
}

// TestReadWriteAllocs checks that Read and Write on a *Conn allocate
// nothing.
func TestReadWriteAllocs(t *testing.T) {
	c, s := pair(t)
	buf := make([]byte, 4<<10)
	var err error
	allocs := testenv.SteadyAllocs(1000, func() {
		if _, err = c.Write(buf); err == nil {
			_, err = io.ReadFull(s, buf)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Write and Read of 4 KiB on a *mptcpx.Conn: %v allocations, want 0", allocs)
	}
}

var _ io.ReaderFrom = (*mptcpx.Conn)(nil)
var _ io.WriterTo = (*mptcpx.Conn)(nil)
