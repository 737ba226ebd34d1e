package releasecheck

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/semver"
)

// APIDiff is the apidiff command the API check runs, at a fixed version.
// `go run` builds it, so it never enters a module's go.mod.
const APIDiff = "golang.org/x/exp/cmd/apidiff@v0.0.0-20261113113407-e3970619a1a4"

// CheckAPI compares the exported API of each module in the work tree with
// its latest tag, using apidiff (run with `go run`), and writes what
// changed to log. It fails when a module whose latest tag is v1 or later
// has an incompatible change: that needs a new major version. A v0 module
// may break its API (SemVer allows it), so it is only reported. A module
// with no tag yet has nothing to compare, and passes.
func (r *Repo) CheckAPI(ctx context.Context, dir, apidiff string, log io.Writer) error {
	mods, tags, err := r.modulesAndTags("HEAD")
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mods {
		latest, ok := Latest(tags, m.Dir)
		if !ok {
			fmt.Fprintf(log, "api: %s: no release tag yet, nothing to compare: passes (its first release sets its API)\n", m.Dir)
			continue
		}
		incompatible, err := r.compareAPI(ctx, dir, apidiff, m, latest, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case incompatible == 0:
			fmt.Fprintf(log, "api: %s: compatible with %s\n", m.Dir, latest.Name())
		case semver.Major(latest.Version) == "v0":
			fmt.Fprintf(log, "api: %s: %d incompatible changes since %s; allowed at v0: say so in %s/CHANGELOG.md and bump the minor version\n", m.Dir, incompatible, latest.Name(), m.Dir)
		default:
			errs = append(errs, fmt.Errorf("api: %s: %d incompatible changes since %s: a module at v1 or later needs a new major version (module path %s/v2) for them", m.Dir, incompatible, latest.Name(), m.Path))
		}
	}
	return errors.Join(errs...)
}

// compareAPI writes apidiff's report for module m between the tag and the
// work tree, and returns how many changes are incompatible.
func (r *Repo) compareAPI(ctx context.Context, dir, apidiff string, m Module, tag Tag, log io.Writer) (int, error) {
	old, err := r.ModuleAt(tag.Rev, m.Dir)
	if err != nil {
		return 0, err
	}
	if old.Path != m.Path {
		fmt.Fprintf(log, "api: %s: module path changed from %s to %s (a new major version): nothing to compare\n", m.Dir, old.Path, m.Path)
		return 0, nil
	}
	tree := filepath.Join(dir, "api", tag.Rev)
	if err := r.extract(tag.Rev, tree); err != nil {
		return 0, err
	}
	oldData := filepath.Join(dir, "api", m.Dir+"-"+tag.Version+".export")
	newData := filepath.Join(dir, "api", m.Dir+"-worktree.export")
	if err := runAPIDiff(ctx, filepath.Join(tree, m.Dir), apidiff, "-m", "-w", oldData, m.Path); err != nil {
		return 0, fmt.Errorf("api: %s: export data of %s: %w", m.Dir, tag.Name(), err)
	}
	if err := runAPIDiff(ctx, filepath.Join(r.Root, m.Dir), apidiff, "-m", "-w", newData, m.Path); err != nil {
		return 0, fmt.Errorf("api: %s: export data of the work tree: %w", m.Dir, err)
	}
	out, err := apiDiffOutput(ctx, dir, apidiff, "-m", oldData, newData)
	if err != nil {
		return 0, fmt.Errorf("api: %s: %w", m.Dir, err)
	}
	if strings.TrimSpace(out) != "" {
		fmt.Fprintf(log, "api: %s since %s:\n%s", m.Dir, tag.Name(), out)
	}
	return countIncompatible(out), nil
}

// countIncompatible counts the items under apidiff's "Incompatible changes:".
func countIncompatible(report string) int {
	n, in := 0, false
	for _, line := range strings.Split(report, "\n") {
		switch {
		case line == "Incompatible changes:":
			in = true
		case !strings.HasPrefix(line, "- "):
			in = false
		case in:
			n++
		}
	}
	return n
}

func runAPIDiff(ctx context.Context, dir, apidiff string, args ...string) error {
	_, err := apiDiffOutput(ctx, dir, apidiff, args...)
	return err
}

// apiDiffOutput runs apidiff in dir with GOWORK=off, so that a module is
// loaded as its go.mod says.
func apiDiffOutput(ctx context.Context, dir, apidiff string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"run", apidiff}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apidiff %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// extract writes the repository's tree at rev into dir, once: every
// module's folder is there, so the sibling replace lines of a go.mod
// resolve as they did at rev.
func (r *Repo) extract(rev, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	cmd := exec.Command("git", "archive", "--format=tar", rev)
	cmd.Dir = r.Root
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("releasecheck: git archive %s: %w", rev, err)
	}
	err = untar(stdout, dir)
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("releasecheck: git archive %s: %w", rev, werr)
	}
	return err
}

// untar writes the regular files and folders of a tar stream into dir.
func untar(rd io.Reader, dir string) error {
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("releasecheck: reading git archive: %w", err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("releasecheck: git archive: entry %q leaves the folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(name, 0o755)
		case tar.TypeReg:
			err = writeFile(name, tr, os.FileMode(h.Mode)&0o755|0o644)
		}
		if err != nil {
			return fmt.Errorf("releasecheck: git archive: %w", err)
		}
	}
}

func writeFile(name string, rd io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, rd)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
