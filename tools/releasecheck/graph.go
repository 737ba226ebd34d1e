package releasecheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// checkGraph fails when the downstream module graph (`go list -m all`)
// holds a module that the release's code does not need. A module is
// needed when it provides a package in the downstream's "all" (what the
// program imports, and the tests of imported packages whose modules
// predate go 1.17, as Go counts them), or when
// a needed module from outside the repository requires it: what a
// third-party module requires is its own business, but every requirement
// of the repository's modules must provide a package their non-test code
// imports. A test-only requirement fails: it belongs in a test-only module,
// or it raises its users' go line and fills their module graph.
//
// need holds the modules that the release's own go.mod needs without its
// tests (see codeRequirements): those are followed from it as well, since
// go mod tidy keeps some requirements that no imported package provides
// (for the tests of an imported package from a module older than go 1.17).
func checkGraph(run func(...string) (string, error), prefix, release string, need map[string]bool) error {
	out, err := run("list", "-f", "{{with .Module}}{{.Path}}{{end}}", "all")
	if err != nil {
		return err
	}
	imported := map[string]bool{}
	for _, p := range strings.Fields(out) {
		imported[p] = true
	}
	if out, err = run("mod", "graph"); err != nil {
		return err
	}
	edges := map[string][]string{} // module path -> paths it requires, over all its versions
	requiredBy := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		from, to := pathOf(f[0]), pathOf(f[1])
		edges[from] = append(edges[from], to)
		requiredBy[to] = append(requiredBy[to], f[0])
	}
	reached := reach(edges, imported, prefix, release, need)
	if out, err = run("list", "-m", "-f", "{{.Path}} {{.Version}}", "all"); err != nil {
		return err
	}
	var extra []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !reached[f[0]] {
			extra = append(extra, fmt.Sprintf("%s %s (required by %s)", f[0], f[1], strings.Join(requiredBy[f[0]], ", ")))
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("a module that imports only it gets modules that no package it builds needs:\n\t%s", strings.Join(extra, "\n\t"))
	}
	return nil
}

// reach returns the module paths reachable from the downstream module,
// following from the repository's modules only the edges to imported ones.
func reach(edges map[string][]string, imported map[string]bool, prefix, release string, need map[string]bool) map[string]bool {
	reached := map[string]bool{downstreamPath: true}
	queue := []string{downstreamPath}
	for len(queue) > 0 {
		from := queue[0]
		queue = queue[1:]
		ours := from == downstreamPath || strings.HasPrefix(from, prefix)
		for _, to := range edges[from] {
			if reached[to] || (ours && !imported[to] && !(from == release && need[to])) {
				continue
			}
			reached[to] = true
			queue = append(queue, to)
		}
	}
	return reached
}

// pathOf returns the module path of "path@version" (or of "path").
func pathOf(node string) string {
	if i := strings.Index(node, "@"); i >= 0 {
		return node[:i]
	}
	return node
}

// codeRequirements returns the module paths that go mod tidy requires for
// the module in dir once its test files are gone: what its code needs. The
// copy has no replace lines, so siblings come from the proxy, as for users.
func codeRequirements(run func(dir string, args ...string) (string, error), src, dst string) (map[string]bool, error) {
	if err := copyWithoutTests(src, dst); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dst, "go.mod"))
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range f.Replace {
		if err := f.DropReplace(r.Old.Path, r.Old.Version); err != nil {
			return nil, err
		}
	}
	if data, err = f.Format(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dst, "go.mod"), data, 0o644); err != nil {
		return nil, err
	}
	if _, err := run(dst, "mod", "tidy"); err != nil {
		return nil, err
	}
	if data, err = os.ReadFile(filepath.Join(dst, "go.mod")); err != nil {
		return nil, err
	}
	if f, err = modfile.Parse("go.mod", data, nil); err != nil {
		return nil, err
	}
	need := map[string]bool{}
	for _, r := range f.Require {
		need[r.Mod.Path] = true
	}
	return need, nil
}

// copyWithoutTests copies the module in src to dst, leaving out test files
// and testdata folders.
func copyWithoutTests(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}
