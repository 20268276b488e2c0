package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a program the test runs: its output is kept in a file for the
// failure report and streamed line by line to whoever waits for a line.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string // file holding stdout and stderr
	done  chan struct{}
	err   error // Wait's result, once done is closed
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced when a line arrives
}

// start runs the program at path with args and the extra environment
// variables env. The process is stopped, and its output shown if t
// failed, when the test ends.
func start(t *testing.T, name, path string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{}), more: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(path, args...)
	// The test's own OTEL_* variables, not the caller's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(io.TeeReader(pr, f))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		<-copied
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
				if i := bytes.IndexByte(b, '\n'); i >= 0 {
					b = b[i+1:]
				}
			}
			t.Logf("%s output (end):\n%s", name, b)
		}
	})
	return p
}

// stop sends sig, waits up to ten seconds for the process to exit, then
// kills it. It returns the process's exit error (nil for exit status 0).
func (p *proc) stop(t *testing.T, sig os.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit within 10s of %v: killed", p.name, sig)
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// waitLine waits for an output line that contains substr, from line
// number from on, and returns it with its number.
func (p *proc) waitLine(ctx context.Context, from int, substr string) (string, int, error) {
	for {
		p.mu.Lock()
		lines, more := p.lines, p.more
		p.mu.Unlock()
		for i := from; i < len(lines); i++ {
			if strings.Contains(lines[i], substr) {
				return lines[i], i, nil
			}
		}
		from = len(lines)
		select {
		case <-more:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == from {
				return "", 0, fmt.Errorf("%s exited (%v) before printing %q", p.name, p.err, substr)
			}
		case <-ctx.Done():
			return "", 0, fmt.Errorf("%s: no line with %q: %w", p.name, substr, ctx.Err())
		}
	}
}

// output returns the lines printed so far.
func (p *proc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
// The port is only free until someone else takes it; on a test machine
// that is good enough, and a clash shows as a start failure, not as wrong
// data.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// goBuild runs go build with args in the module directory dir.
func goBuild(dir string, args ...string) error { return goBuildEnv(dir, nil, args...) }

// goBuildEnv is goBuild with variables added to the environment.
func goBuildEnv(dir string, env []string, args ...string) error {
	args = append([]string{"build"}, args...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}
