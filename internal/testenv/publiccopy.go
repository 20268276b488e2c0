package testenv

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// PublicCopy copies the executable src (a test binary, os.Executable) to a
// directory of its own that any user may enter, and returns the copy's
// path: the go tool builds test binaries in a directory only its owner may
// enter, so a test that runs itself as user nobody runs the copy. The
// directory is removed when t ends.
func PublicCopy(t testing.TB, src string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mptcpx-child-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, "child.test")
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
