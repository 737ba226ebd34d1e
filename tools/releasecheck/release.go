package releasecheck

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/semver"
)

// Release tags HEAD with each of names ("flex/v0.1.0"), in dependency
// order, after checking them as users will get them; it writes the
// commands that push the tags. It refuses, creating no tag, when:
//   - the work tree is not clean, or a name is not DIR/vMAJOR.MINOR.PATCH
//     for a released module, or the tag exists (a tag is never moved), or
//     the version is not above the module's latest tag;
//   - a module requires a sibling at a version that neither a tag nor
//     this release makes;
//   - with runTests, a module's tests fail (`GOWORK=off go test -race`);
//   - the downstream check of a proposed release fails, as it does when
//     an adapter needs a change that its sibling requirement lacks.
func (r *Repo) Release(ctx context.Context, c *Checker, names []string, runTests bool, log io.Writer) error {
	if len(names) == 0 {
		return fmt.Errorf("release: no tag given: make release TAGS=\"flex/v0.1.0 flexhttp/v0.1.0\"")
	}
	if out, err := r.Git("status", "--porcelain"); err != nil || strings.TrimSpace(out) != "" {
		return fmt.Errorf("release: the work tree is not clean (commit or stash first):\n%s%v", out, errOrEmpty(err))
	}
	mods, tags, err := r.modulesAndTags("HEAD")
	if err != nil {
		return err
	}
	proposed, err := parseProposed(names, mods, tags)
	if err != nil {
		return err
	}
	if err := siblingsTagged(mods, tags, proposed); err != nil {
		return err
	}
	p, err := r.ReleasePlan("HEAD", proposed)
	if err != nil {
		return err
	}
	if runTests {
		for _, rel := range p.Check {
			if err := r.test(ctx, rel.Module.Dir, log); err != nil {
				return err
			}
		}
	}
	if err := c.Run(ctx, p); err != nil {
		return fmt.Errorf("release: refused, no tag made: the check as users get the release failed:\n%w", err)
	}
	return r.tag(p.Check, log)
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}

// parseProposed validates the tag names given to Release.
func parseProposed(names []string, mods []Module, tags []Tag) ([]Tag, error) {
	var proposed []Tag
	for _, name := range names {
		dir, version, ok := splitTag(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("release: invalid tag %q: want DIR/vMAJOR.MINOR.PATCH, such as flexhttp/v0.2.0", name)
		case !containsDir(mods, dir):
			return nil, fmt.Errorf("release: invalid tag %q: %s is not a released module (%s)", name, dir, dirs(mods))
		case hasTag(tags, dir, version):
			return nil, fmt.Errorf("release: tag %s exists; tags are never moved (retract a bad release in go.mod instead)", name)
		}
		if latest, ok := Latest(tags, dir); ok && semver.Compare(version, latest.Version) <= 0 {
			return nil, fmt.Errorf("release: invalid tag %q: not above the latest release %s", name, latest.Name())
		}
		for _, t := range proposed {
			if t.Dir == dir {
				return nil, fmt.Errorf("release: two versions of %s given: %s and %s", dir, t.Version, version)
			}
		}
		proposed = append(proposed, Tag{Dir: dir, Version: version})
	}
	return proposed, nil
}

// siblingsTagged fails when a proposed module requires a sibling at a
// version that no tag makes, now or in this release.
func siblingsTagged(mods []Module, tags, proposed []Tag) error {
	var missing []string
	for _, m := range mods {
		if !hasDir(proposed, m.Dir) {
			continue
		}
		for _, s := range m.Siblings {
			dir := strings.TrimPrefix(s.Path, RepoPrefix(m))
			if !hasTag(tags, dir, s.Version) && !hasTag(proposed, dir, s.Version) {
				missing = append(missing, fmt.Sprintf("%s requires %s %s, but tag %s/%s does not exist: release it too, or require a tagged version", m.Dir, s.Path, s.Version, dir, s.Version))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("release: refused, no tag made:\n\t%s", strings.Join(missing, "\n\t"))
	}
	return nil
}

func hasDir(tags []Tag, dir string) bool {
	for _, t := range tags {
		if t.Dir == dir {
			return true
		}
	}
	return false
}

func dirs(mods []Module) string {
	var ds []string
	for _, m := range mods {
		ds = append(ds, m.Dir)
	}
	return strings.Join(ds, ", ")
}

// test runs the tests of a module, and of the test-only modules in its
// folder (flexkafka/internal/kafkatest), as users build them: GOWORK=off.
func (r *Repo) test(ctx context.Context, dir string, log io.Writer) error {
	var mods []string
	err := filepath.WalkDir(filepath.Join(r.Root, dir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "go.mod" {
			mods = append(mods, filepath.Dir(path))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("release: %s: %w", dir, err)
	}
	for _, m := range mods {
		rel, _ := filepath.Rel(r.Root, m)
		fmt.Fprintf(log, "release: testing %s (GOWORK=off go test -race -count=1 ./...)\n", rel)
		cmd := exec.CommandContext(ctx, "go", "test", "-race", "-count=1", "./...")
		cmd.Dir = m
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("release: refused, no tag made: %s: tests failed: %w\n%s", rel, err, out)
		}
	}
	return nil
}

// tag creates the annotated tags, in the order given, and writes the
// commands that push them in that order.
func (r *Repo) tag(rels []Release, log io.Writer) error {
	var made []string
	for _, rel := range rels {
		name := rel.Module.Dir + "/" + rel.Version
		if _, err := r.Git("tag", "-a", name, "-m", rel.Module.Dir+" "+rel.Version, rel.Rev); err != nil {
			return fmt.Errorf("release: tagging %s failed after tagging [%s]: %w", name, strings.Join(made, " "), err)
		}
		made = append(made, name)
	}
	fmt.Fprintf(log, "release: tagged %s at %s. Push the tags in this order, each after the one before:\n", strings.Join(made, ", "), short(rels[0].Rev))
	for _, name := range made {
		fmt.Fprintf(log, "\tgit push origin %s\n", name)
	}
	return nil
}
