// Command modproxy writes a module proxy directory, in the layout that
// GOPROXY=file://DIR serves, holding the modules of the repository's working
// tree at one version, as the go command would download them once tagged.
//
// Usage:
//
//	modproxy -out DIR -version vX.Y.Z MODULEDIR...
//
// For each module directory (the one holding its go.mod) it writes
// DIR/<module>/@v/list, vX.Y.Z.info, vX.Y.Z.mod and vX.Y.Z.zip. The zip
// holds what a release of the module holds: the files that git would commit
// (tracked files and untracked files that are not ignored, as they are in
// the working tree, so that uncommitted changes are tested too), less the
// files of nested modules and of vendor directories, which
// golang.org/x/mod/zip leaves out as the go command does. Files that are
// left out are listed on standard error.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "proxy directory to write")
	version := flag.String("version", "", "version of every module, vX.Y.Z")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: modproxy -out DIR -version vX.Y.Z MODULEDIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || !semver.IsValid(*version) || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, dir := range flag.Args() {
		if err := write(*out, *version, dir); err != nil {
			fmt.Fprintln(os.Stderr, "modproxy:", err)
			os.Exit(1)
		}
	}
}

// write adds the module in dir, at version, to the proxy directory out.
func write(out, version, dir string) error {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	modPath := modfile.ModulePath(gomod)
	if modPath == "" {
		return fmt.Errorf("%s/go.mod: no module path", dir)
	}
	mv := module.Version{Path: modPath, Version: version}
	if err := module.Check(modPath, version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(modPath)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}

	files, err := gitFiles(dir)
	if err != nil {
		return err
	}
	checked, err := modzip.CheckFiles(files)
	if err != nil {
		return fmt.Errorf("%s: %w", modPath, err)
	}
	var nested []string
	for _, fe := range checked.Omitted {
		if d, base := path.Split(fe.Path); base == "go.mod" {
			nested = append(nested, strings.TrimSuffix(d, "/"))
		} else if !strings.Contains(fe.Err.Error(), "another module") {
			fmt.Fprintf(os.Stderr, "modproxy: %s: left out %s (%v)\n", modPath, fe.Path, fe.Err)
		}
	}
	if len(nested) > 0 {
		fmt.Fprintf(os.Stderr, "modproxy: %s: left out the nested modules %s\n", modPath, strings.Join(nested, ", "))
	}
	var zip bytes.Buffer
	if err := modzip.Create(&zip, mv, files); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
		version + ".zip":  zip.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "modproxy: %s@%s: %d files, %d bytes\n", modPath, version, len(checked.Valid), zip.Len())
	return nil
}

// gitFiles lists the files of dir that git would commit: tracked files that
// still exist and untracked files that are not ignored.
func gitFiles(dir string) ([]modzip.File, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	listing, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", dir, err)
	}
	seen := map[string]bool{}
	var files []modzip.File
	for name := range strings.SplitSeq(strings.TrimSuffix(string(listing), "\x00"), "\x00") {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		full := filepath.Join(dir, filepath.FromSlash(name))
		info, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: name, full: full, info: info})
	}
	return files, nil
}

// file is a file of the working tree, named by its slash-separated path
// within the module.
type file struct {
	name string
	full string
	info fs.FileInfo
}

func (f file) Path() string                 { return f.name }
func (f file) Lstat() (fs.FileInfo, error)  { return f.info, nil }
func (f file) Open() (io.ReadCloser, error) { return os.Open(f.full) }
