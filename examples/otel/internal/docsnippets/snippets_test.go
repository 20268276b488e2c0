package docsnippets

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// imports maps the package names a block may use without importing them
// to their import paths: the names the documentation's readers would
// import them under.
var imports = map[string]string{
	// The standard library.
	"context": "context",
	"errors":  "errors",
	"fmt":     "fmt",
	"io":      "io",
	"log":     "log",
	"net":     "net",
	"http":    "net/http",
	"netip":   "net/netip",
	"os":      "os",
	"signal":  "os/signal",
	"slog":    "log/slog",
	"syscall": "syscall",
	"time":    "time",
	"tls":     "crypto/tls",

	// This repository.
	"mptcpx":     "github.com/mptcpx/mptcpx",
	"conntrace":  "github.com/mptcpx/mptcpx/conntrace",
	"mptcpinfo":  "github.com/mptcpx/mptcpx/mptcpinfo",
	"mptcpxotel": "github.com/mptcpx/mptcpx/mptcpxotel",
	"mptcpxgrpc": "github.com/mptcpx/mptcpx/mptcpxgrpc",

	// OpenTelemetry.
	"otel":         "go.opentelemetry.io/otel",
	"trace":        "go.opentelemetry.io/otel/trace",
	"metric":       "go.opentelemetry.io/otel/metric",
	"sdktrace":     "go.opentelemetry.io/otel/sdk/trace",
	"sdkmetric":    "go.opentelemetry.io/otel/sdk/metric",
	"sdklog":       "go.opentelemetry.io/otel/sdk/log",
	"stdouttrace":  "go.opentelemetry.io/otel/exporters/stdout/stdouttrace",
	"stdoutmetric": "go.opentelemetry.io/otel/exporters/stdout/stdoutmetric",
	"stdoutlog":    "go.opentelemetry.io/otel/exporters/stdout/stdoutlog",
	"autoexport":   "go.opentelemetry.io/contrib/exporters/autoexport",
	"otelhttp":     "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
	"otelgrpc":     "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",

	// grpc-go.
	"grpc":        "google.golang.org/grpc",
	"credentials": "google.golang.org/grpc/credentials",
	"insecure":    "google.golang.org/grpc/credentials/insecure",
	"peer":        "google.golang.org/grpc/peer",
	"health":      "google.golang.org/grpc/health",
	"healthpb":    "google.golang.org/grpc/health/grpc_health_v1",
	"testgrpc":    "google.golang.org/grpc/interop/grpc_testing",
}

// A snippet is one ```go block of a Markdown file.
type snippet struct {
	file      string // relative to the repository's root, with slashes
	line      int    // of the first line of code
	directive string // what <!-- go: ... --> on the line before the fence says
	code      string
}

func (s snippet) String() string { return fmt.Sprintf("%s:%d", s.file, s.line) }

var (
	fenceGo   = regexp.MustCompile("^```go\\s*$")
	fenceEnd  = regexp.MustCompile("^```\\s*$")
	indented  = regexp.MustCompile("^\\s+```go")
	directive = regexp.MustCompile(`^<!--\s*go:\s*(.*?)\s*-->\s*$`)
)

// extract returns the ```go blocks of the Markdown file path (named name in
// messages).
func extract(t *testing.T, path, name string) []snippet {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []snippet
		cur  *snippet
		prev string
		code strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && fenceEnd.MatchString(line):
			cur.code = code.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
		case fenceGo.MatchString(line):
			cur = &snippet{file: name, line: n + 1}
			code.Reset()
			if m := directive.FindStringSubmatch(prev); m != nil {
				cur.directive = m[1]
			}
		case indented.MatchString(line):
			// An indented block would escape the check: keep them at the
			// left margin.
			t.Errorf("%s:%d: indented ```go block: start Go blocks at the left margin", name, n)
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Errorf("%s: ```go block not closed", cur)
	}
	return out
}

// markdownFiles lists the Markdown files of the repository at root,
// relative to it.
func markdownFiles(t *testing.T, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// source returns the Go file that builds s, with a //line directive that
// points the compiler's messages at the Markdown (under root), and the
// source whose formatting is checked.
func source(s snippet, root string) (src, fmtSrc string, err error) {
	code := s.code
	lineDir := fmt.Sprintf("//line %s:%d\n", filepath.Join(root, filepath.FromSlash(s.file)), s.line)
	trimmed := strings.TrimSpace(code)
	switch {
	case strings.HasPrefix(trimmed, "package "):
		if s.directive != "" {
			return "", "", fmt.Errorf("a whole file takes no <!-- go: %s -->", s.directive)
		}
		return lineDir + code, code, nil

	case strings.HasPrefix(trimmed, "import"):
		f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+code, parser.ImportsOnly)
		if err != nil {
			return "", "", err
		}
		var b strings.Builder
		b.WriteString("package snippet\n\n")
		for _, imp := range f.Imports {
			fmt.Fprintf(&b, "import _ %s\n", imp.Path.Value)
		}
		return b.String(), "package p\n\n" + code, nil

	case s.directive == "decls":
		body := lineDir + code
		return withImports("package snippet\n\n", body), "package p\n\n" + code, nil

	default:
		sig := "func() error"
		if s.directive != "" {
			sig = s.directive
		}
		if !strings.HasPrefix(sig, "func(") {
			return "", "", fmt.Errorf("<!-- go: %s -->: want decls or a function signature, func(...) ...", sig)
		}
		head := "func _" + strings.TrimPrefix(sig, "func") + " {\n"
		var indented strings.Builder
		for l := range strings.Lines(code) {
			if strings.TrimSpace(l) != "" {
				indented.WriteByte('\t')
			}
			indented.WriteString(l)
		}
		fmtSrc = "package p\n\n" + head + indented.String() + "}\n"
		body := lineDir + code
		if strings.HasSuffix(sig, " error") && !endsInReturn(fmtSrc) {
			body += "return nil\n"
		}
		return withImports("package snippet\n\n", head+body+"}\n"), fmtSrc, nil
	}
}

// endsInReturn reports whether the one function of src ends in a return
// statement (false when src does not parse: the build says why).
func endsInReturn(src string) bool {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil || len(f.Decls) != 1 {
		return false
	}
	fn, ok := f.Decls[0].(*ast.FuncDecl)
	if !ok || fn.Body == nil || len(fn.Body.List) == 0 {
		return false
	}
	_, ok = fn.Body.List[len(fn.Body.List)-1].(*ast.ReturnStmt)
	return ok
}

// withImports returns header, an import declaration for every package of
// the table that body names in a selector (x.Y), and body.
func withImports(header, body string) string {
	f, err := parser.ParseFile(token.NewFileSet(), "", header+body, parser.SkipObjectResolution)
	if err != nil {
		return header + body // the build reports the syntax error
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && imports[id.Name] != "" {
				used[id.Name] = true
			}
		}
		return true
	})
	var names []string
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(header)
	for _, name := range names {
		fmt.Fprintf(&b, "import %s %s\n", name, strconv.Quote(imports[name]))
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
}

// module writes a module at dir that requires what this one requires,
// with its replace directives made absolute, and this module's go.sum.
func module(t *testing.T, dir, modDir string) {
	gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for l := range strings.Lines(string(gomod)) {
		switch {
		case strings.HasPrefix(l, "module "):
			l = "module docsnippets.test\n"
		case strings.HasPrefix(l, "replace "):
			from, to, ok := strings.Cut(l, "=>")
			if !ok {
				t.Fatalf("go.mod: cannot read %q", l)
			}
			to = strings.TrimSpace(to)
			if strings.HasPrefix(to, ".") {
				to = filepath.Join(modDir, to)
			}
			l = from + "=> " + to + "\n"
		}
		b.WriteString(l)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(filepath.Join(modDir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSnippets(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("MPTCPX_STRICT") == "1" {
			t.Fatalf("no go command to build the snippets with: %v", err)
		}
		t.Skipf("no go command to build the snippets with: %v", err)
	}
	modDir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(modDir))
	if _, err := os.Stat(filepath.Join(root, "README.md")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}

	var snippets []snippet
	files := markdownFiles(t, root)
	for _, name := range files {
		snippets = append(snippets, extract(t, filepath.Join(root, filepath.FromSlash(name)), name)...)
	}
	if !slices.ContainsFunc(snippets, func(s snippet) bool { return s.file == "README.md" }) {
		t.Fatal("README.md has no ```go block: the check would check nothing")
	}

	dir := t.TempDir()
	module(t, dir, modDir)
	for i, s := range snippets {
		src, fmtSrc, err := source(s, root)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if formatted, err := format.Source([]byte(fmtSrc)); err == nil && string(formatted) != fmtSrc {
			t.Errorf("%s: not gofmt-clean; gofmt would write:\n%s", s, formatted)
		}
		pkg := filepath.Join(dir, fmt.Sprintf("s%03d", i))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "snippet.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d Go blocks in %d Markdown files", len(snippets), len(files))

	// go vet type-checks every package (a variable declared and not used
	// is an error) and runs vet's checks on it.
	cmd := exec.Command(goTool, "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		// Name the Markdown files as the rest of the test does.
		out = bytes.ReplaceAll(out, []byte(root+string(filepath.Separator)), nil)
		t.Fatalf("go vet of the Markdown's Go blocks: %v\n%s", err, out)
	}
}
