package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tool is a backend that the test builds from source, at the version that
// a module of its own under examples/otel/internal pins (a tool directive),
// so that the backend's dependencies never mix with the examples'.
type tool struct {
	name     string   // the binary's name
	env      string   // variable that names a binary to use instead
	dir      string   // the pinning module's directory
	module   string   // the backend's module, as that go.mod requires it
	pkg      string   // its main package
	buildEnv []string // extra environment of the build
}

// binary returns the path of the tool's binary: the one the variable
// t.env names if set, else a build of the pinned version, cached in the
// user's cache directory under a name that holds the version and a digest
// of the pinning go.mod and go.sum, so that a version change builds anew.
func (tl tool) binary() (path string, built bool, err error) {
	if p := os.Getenv(tl.env); p != "" {
		return p, false, nil
	}
	version, digest, err := tl.version()
	if err != nil {
		return "", false, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(cache, "mptcpx", tl.name+"-"+version+"-"+digest)
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", false, err
	}
	// Build next to the final name and rename, so that an interrupted
	// build never leaves a broken binary under the cached name.
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := goBuildEnv(tl.dir, tl.buildEnv, "-trimpath", "-o", tmp, tl.pkg); err != nil {
		return "", false, err
	}
	return path, true, os.Rename(tmp, path)
}

// version reads the pinned version from the tool module's go.mod, and a
// digest of its go.mod and go.sum.
func (tl tool) version() (version, digest string, err error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(tl.dir, name))
		if err != nil {
			return "", "", err
		}
		h.Write(b)
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if name == "go.mod" && len(f) >= 2 && f[0] == tl.module {
				version = f[1]
			}
		}
	}
	if version == "" {
		return "", "", fmt.Errorf("%s/go.mod requires no %s", tl.dir, tl.module)
	}
	return version, hex.EncodeToString(h.Sum(nil))[:12], nil
}
