package version_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/internal/version"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// repoRoot is the repository's top directory, seen from this package's.
const repoRoot = "../.."

// modPath is the root module's path; the repository's other modules are
// below it.
const modPath = "github.com/mptcpx/mptcpx"

var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

func TestVersionIsSemver(t *testing.T) {
	if !semver.MatchString(version.Version) {
		t.Errorf("Version = %q, want MAJOR.MINOR.PATCH without a leading v", version.Version)
	}
	if mptcpxotel.Version != version.Version {
		t.Errorf("mptcpxotel.Version = %q, want version.Version %q", mptcpxotel.Version, version.Version)
	}
}

// goMod is what the checks need of a go.mod file.
type goMod struct {
	file     string            // path from the repository's top
	module   string            // module path
	requires map[string]string // module path -> version
	replaces map[string]string // module path -> replacement ("dir" or "path version")
}

// TestModulesRequireTheirSiblingsAtVersion checks every go.mod of the
// repository: a requirement on another of the repository's modules names
// v<Version>, the version they are tagged at together, and is replaced by
// that module's directory, so that development in the repository builds
// against the working tree. Consumers never see the replace directives: they
// apply in the main module only.
func TestModulesRequireTheirSiblingsAtVersion(t *testing.T) {
	mods := readGoMods(t)
	dirs := map[string]string{} // module path -> directory from the top
	for _, m := range mods {
		dirs[m.module] = filepath.Dir(m.file)
	}
	if dirs[modPath] != "." || dirs[modPath+"/mptcpxgrpc"] != "mptcpxgrpc" {
		t.Fatalf("modules found: %v; want %s at the top and %s/mptcpxgrpc in mptcpxgrpc", dirs, modPath, modPath)
	}
	want := "v" + version.Version
	for _, m := range mods {
		for path, v := range m.requires {
			dir, ours := dirs[path]
			if !ours {
				if path == modPath || strings.HasPrefix(path, modPath+"/") {
					t.Errorf("%s requires %s %s, a module of this project that the repository does not hold", m.file, path, v)
				}
				continue
			}
			if v != want {
				t.Errorf("%s requires %s %s, want %s (internal/version.Version)", m.file, path, v, want)
			}
			rel, err := filepath.Rel(filepath.Dir(m.file), dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.replaces[path]; filepath.Clean(got) != rel {
				t.Errorf("%s: replace %s => %q, want => %s (the module's directory)", m.file, path, got, rel)
			}
		}
	}
}

// TestChangelogLatestRelease checks that CHANGELOG.md opens with an
// Unreleased section and that the release after it is Version, with the
// link references that Keep a Changelog puts at the end.
func TestChangelogLatestRelease(t *testing.T) {
	b := readRepoFile(t, "CHANGELOG.md")
	heading := regexp.MustCompile(`(?m)^## \[([^\]]+)\](.*)$`)
	var sections [][]string
	for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
		sections = append(sections, m[1:])
	}
	if len(sections) < 2 || sections[0][0] != "Unreleased" {
		t.Fatalf("CHANGELOG.md sections %v: want ## [Unreleased] first, then the releases, latest first", sections)
	}
	latest := sections[1]
	if latest[0] != version.Version {
		t.Errorf("CHANGELOG.md: latest release is %s, want %s (internal/version.Version)", latest[0], version.Version)
	}
	if !regexp.MustCompile(`^ - \d{4}-\d{2}-\d{2}$`).MatchString(latest[1]) {
		t.Errorf("CHANGELOG.md: ## [%s]%s: want the release date as \" - YYYY-MM-DD\"", latest[0], latest[1])
	}
	// The first release links to its tag, later ones to the comparison
	// with the release before.
	v := regexp.QuoteMeta("v" + version.Version)
	repo := regexp.QuoteMeta("https://" + modPath)
	for _, ref := range []string{
		`\[Unreleased\]: ` + repo + `/compare/` + v + `\.\.\.HEAD`,
		`\[` + regexp.QuoteMeta(version.Version) + `\]: ` + repo + `/(releases/tag/|compare/v[0-9.]+\.\.\.)` + v,
	} {
		if !regexp.MustCompile(`(?m)^` + ref + `$`).Match(b) {
			t.Errorf("CHANGELOG.md has no link reference matching %s", ref)
		}
	}
}

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	skipOutsideRepo(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// skipOutsideRepo skips t in the kernel matrix's virtual machines, which
// hold the test binaries but not the repository.
func skipOutsideRepo(t *testing.T) {
	t.Helper()
	if testenv.KernelMatrix() {
		if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
			t.Skip("the repository's files are not here (kernel matrix)")
		}
	}
}

// readGoMods reads every go.mod file of the repository, test data and
// caches aside.
func readGoMods(t *testing.T) []goMod {
	t.Helper()
	skipOutsideRepo(t)
	var mods []goMod
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return fs.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		m, err := parseGoMod(path)
		if err != nil {
			return err
		}
		m.file = rel
		mods = append(mods, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mods
}

// parseGoMod reads the module, require and replace directives of a go.mod
// file, in their single-line and block forms.
func parseGoMod(name string) (goMod, error) {
	f, err := os.Open(name)
	if err != nil {
		return goMod{}, err
	}
	defer f.Close()
	m := goMod{requires: map[string]string{}, replaces: map[string]string{}}
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if block != "" {
			if fields[0] == ")" {
				block = ""
				continue
			}
			fields = append([]string{block}, fields...)
		} else if len(fields) == 2 && fields[1] == "(" {
			block = fields[0]
			continue
		}
		switch fields[0] {
		case "module":
			if len(fields) == 2 {
				m.module = strings.Trim(fields[1], `"`)
			}
		case "require":
			if len(fields) == 3 {
				m.requires[fields[1]] = fields[2]
			}
		case "replace":
			// replace path [version] => new [version]
			for i, f := range fields {
				if f == "=>" && i+1 < len(fields) {
					m.replaces[fields[1]] = strings.Join(fields[i+1:], " ")
				}
			}
		}
	}
	return m, sc.Err()
}
