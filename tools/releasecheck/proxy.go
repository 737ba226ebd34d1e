package releasecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// Release is a version of a module made from a commit: a real tag, or a
// temporary one that exists only in the proxy built for a check.
type Release struct {
	Module  Module
	Version string
	// Rev is the commit the version is made from.
	Rev string
	// Temporary is true for a version that no tag names.
	Temporary bool
}

// String returns "flexhttp v0.2.0", with "(untagged, at abc1234)" for a
// version that no tag names.
func (r Release) String() string {
	s := r.Module.Dir + " " + r.Version
	if r.Temporary {
		s += " (untagged, at " + short(r.Rev) + ")"
	}
	return s
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// WriteProxy writes a module proxy into dir, to be used as
// GOPROXY=file://dir: for each release, the go.mod, the module zip and the
// .info that git has at its commit, as the go command would make them from
// a tag. The zips come from git, never from the work tree, so uncommitted
// files cannot reach a check.
func (r *Repo) WriteProxy(dir string, releases []Release) error {
	versions := map[string][]string{}
	for _, rel := range releases {
		if err := r.writeVersion(dir, rel); err != nil {
			return err
		}
		versions[rel.Module.Path] = append(versions[rel.Module.Path], rel.Version)
	}
	for path, vs := range versions {
		semver.Sort(vs)
		vdir, err := versionDir(dir, path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(strings.Join(vs, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("releasecheck: proxy: %w", err)
		}
	}
	return nil
}

// writeVersion writes one release's .mod, .zip and .info.
func (r *Repo) writeVersion(dir string, rel Release) error {
	m, err := r.ModuleAt(rel.Rev, rel.Module.Dir)
	if err != nil {
		return fmt.Errorf("releasecheck: %s: %w", rel, err)
	}
	if m.Path != rel.Module.Path {
		return fmt.Errorf("releasecheck: %s: go.mod at %s names module %s, want %s", rel, short(rel.Rev), m.Path, rel.Module.Path)
	}
	if _, major, ok := module.SplitPathVersion(m.Path); !ok || module.CheckPathMajor(rel.Version, major) != nil {
		return fmt.Errorf("releasecheck: %s: version does not match module path %s (a v2 or later needs a /vN path)", rel, m.Path)
	}
	vdir, err := versionDir(dir, m.Path)
	if err != nil {
		return err
	}
	ev, err := module.EscapeVersion(rel.Version)
	if err != nil {
		return fmt.Errorf("releasecheck: %s: %w", rel, err)
	}
	base := filepath.Join(vdir, ev)
	gomod, err := r.Git("show", rel.Rev+":"+rel.Module.Dir+"/go.mod")
	if err != nil {
		return fmt.Errorf("releasecheck: %s: %w", rel, err)
	}
	if err := os.WriteFile(base+".mod", []byte(gomod), 0o644); err != nil {
		return fmt.Errorf("releasecheck: proxy: %w", err)
	}
	if err := r.writeZip(base+".zip", rel); err != nil {
		return err
	}
	return r.writeInfo(base+".info", rel)
}

func (r *Repo) writeZip(name string, rel Release) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("releasecheck: proxy: %w", err)
	}
	mv := module.Version{Path: rel.Module.Path, Version: rel.Version}
	err = modzip.CreateFromVCS(f, mv, r.Root, rel.Rev, rel.Module.Dir)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("releasecheck: %s: module zip: %w", rel, err)
	}
	return nil
}

func (r *Repo) writeInfo(name string, rel Release) error {
	out, err := r.Git("show", "-s", "--format=%cI", rel.Rev)
	if err != nil {
		return fmt.Errorf("releasecheck: %s: %w", rel, err)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(out))
	if err != nil {
		return fmt.Errorf("releasecheck: %s: commit time %q: %w", rel, out, err)
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{rel.Version, t.UTC()})
	if err := os.WriteFile(name, info, 0o644); err != nil {
		return fmt.Errorf("releasecheck: proxy: %w", err)
	}
	return nil
}

// versionDir creates and returns the proxy's folder of a module's versions.
func versionDir(dir, path string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", fmt.Errorf("releasecheck: proxy: %w", err)
	}
	vdir := filepath.Join(dir, filepath.FromSlash(ep), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", fmt.Errorf("releasecheck: proxy: %w", err)
	}
	return vdir, nil
}
