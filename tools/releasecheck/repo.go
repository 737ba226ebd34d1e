package releasecheck

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Unreleased names the top-level module folders that are never tagged:
// the examples and these tools.
var Unreleased = []string{"examples", "tools"}

// Repo is a git repository holding one module per top-level folder.
type Repo struct {
	// Root is the top of the work tree.
	Root string
}

// Module is one released module as a revision of the repository has it.
type Module struct {
	// Dir is the module's folder, relative to the repository's root: the
	// prefix of its tags ("flexhttp" in "flexhttp/v0.2.0").
	Dir string
	// Path is the module path from its go.mod.
	Path string
	// Go is the go line of its go.mod.
	Go string
	// Siblings are its requirements on other modules of the repository.
	Siblings []Requirement
}

// Requirement is a module path at a version, as a go.mod requires it.
type Requirement struct{ Path, Version string }

// Tag is a release tag: Dir/Version names Rev.
type Tag struct {
	Dir, Version string
	// Rev is the commit the tag names.
	Rev string
}

// Name is the tag's name, such as "flexhttp/v0.2.0".
func (t Tag) Name() string { return t.Dir + "/" + t.Version }

// OpenRepo returns the repository whose work tree holds dir.
func OpenRepo(dir string) (*Repo, error) {
	out, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("releasecheck: %s is not in a git work tree: %w", dir, err)
	}
	return &Repo{Root: strings.TrimSpace(out)}, nil
}

// git runs git in dir and returns its standard output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Git runs git in the repository and returns its standard output.
func (r *Repo) Git(args ...string) (string, error) { return git(r.Root, args...) }

// Commit returns the full hash of the commit rev names.
func (r *Repo) Commit(rev string) (string, error) {
	out, err := r.Git("rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("releasecheck: no commit %q: %w", rev, err)
	}
	return strings.TrimSpace(out), nil
}

// Modules returns the released modules at rev in dependency order: every
// module comes after the siblings it requires, ties by folder name.
func (r *Repo) Modules(rev string) ([]Module, error) {
	out, err := r.Git("ls-tree", "--name-only", rev)
	if err != nil {
		return nil, fmt.Errorf("releasecheck: cannot list %s: %w", rev, err)
	}
	var mods []Module
	for _, dir := range strings.Fields(out) {
		if contains(Unreleased, dir) {
			continue
		}
		m, err := r.ModuleAt(rev, dir)
		if err == errNoModule {
			continue
		}
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
	}
	return dependencyOrder(mods)
}

var errNoModule = fmt.Errorf("releasecheck: no go.mod")

// ModuleAt reads the module in folder dir at rev.
func (r *Repo) ModuleAt(rev, dir string) (Module, error) {
	data, err := r.Git("show", rev+":"+dir+"/go.mod")
	if err != nil {
		return Module{}, errNoModule
	}
	f, err := modfile.ParseLax(dir+"/go.mod", []byte(data), nil)
	if err != nil {
		return Module{}, fmt.Errorf("releasecheck: %s/go.mod at %s: %w", dir, rev, err)
	}
	if f.Module == nil {
		return Module{}, fmt.Errorf("releasecheck: %s/go.mod at %s has no module line", dir, rev)
	}
	m := Module{Dir: dir, Path: f.Module.Mod.Path}
	if f.Go != nil {
		m.Go = f.Go.Version
	}
	prefix := RepoPrefix(m)
	for _, req := range f.Require {
		if strings.HasPrefix(req.Mod.Path, prefix) {
			m.Siblings = append(m.Siblings, Requirement{req.Mod.Path, req.Mod.Version})
		}
	}
	return m, nil
}

// RepoPrefix is the module path of the repository's root, with a slash:
// "github.com/go-flexible/flexible/" for the module in folder flexhttp.
func RepoPrefix(m Module) string {
	p := m.Path
	if prefix, _, ok := module.SplitPathVersion(p); ok {
		p = prefix // without a /vN suffix
	}
	return strings.TrimSuffix(p, m.Dir)
}

// dependencyOrder sorts mods so that each comes after the siblings it requires.
func dependencyOrder(mods []Module) ([]Module, error) {
	sort.Slice(mods, func(i, j int) bool { return mods[i].Dir < mods[j].Dir })
	byPath := map[string]bool{}
	for _, m := range mods {
		byPath[m.Path] = true
	}
	placed := map[string]bool{}
	var order []Module
	for len(order) < len(mods) {
		progress := false
		for _, m := range mods {
			if placed[m.Path] || !requirementsPlaced(m, byPath, placed) {
				continue
			}
			placed[m.Path] = true
			order = append(order, m)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("releasecheck: the modules require each other in a cycle")
		}
	}
	return order, nil
}

func requirementsPlaced(m Module, known, placed map[string]bool) bool {
	for _, s := range m.Siblings {
		if known[s.Path] && !placed[s.Path] {
			return false
		}
	}
	return true
}

// Tags returns the repository's release tags of the given modules: those
// named DIR/VERSION with a canonical semantic version, highest first.
func (r *Repo) Tags(mods []Module) ([]Tag, error) {
	out, err := r.Git("for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("releasecheck: cannot list tags: %w", err)
	}
	var tags []Tag
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dir, version, ok := splitTag(strings.TrimPrefix(f[0], "refs/tags/"))
		if !ok || !containsDir(mods, dir) {
			continue
		}
		rev := f[len(f)-1] // the commit an annotated tag points at, else the tag's own object
		tags = append(tags, Tag{Dir: dir, Version: version, Rev: rev})
	}
	sort.Slice(tags, func(i, j int) bool {
		if tags[i].Dir != tags[j].Dir {
			return tags[i].Dir < tags[j].Dir
		}
		return semver.Compare(tags[i].Version, tags[j].Version) > 0
	})
	return tags, nil
}

// splitTag splits "flexhttp/v0.2.0" into its folder and canonical version.
func splitTag(name string) (dir, version string, ok bool) {
	i := strings.LastIndex(name, "/")
	if i <= 0 {
		return "", "", false
	}
	dir, version = name[:i], name[i+1:]
	return dir, version, semver.IsValid(version) && semver.Canonical(version) == version
}

// Latest returns the highest tag of dir, if any.
func Latest(tags []Tag, dir string) (Tag, bool) {
	for _, t := range tags { // highest first
		if t.Dir == dir {
			return t, true
		}
	}
	return Tag{}, false
}

// Changed reports whether dir differs between the commits from and to.
func (r *Repo) Changed(from, to, dir string) (bool, error) {
	out, err := r.Git("diff", "--name-only", from, to, "--", dir)
	if err != nil {
		return false, fmt.Errorf("releasecheck: cannot compare %s at %s and %s: %w", dir, from, to, err)
	}
	return strings.TrimSpace(out) != "", nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsDir(mods []Module, dir string) bool {
	for _, m := range mods {
		if m.Dir == dir {
			return true
		}
	}
	return false
}
