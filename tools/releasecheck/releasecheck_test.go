package releasecheck_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-flexible/flexible/tools/releasecheck"
)

// scratch is a clone of this repository in a temporary folder, where tests
// make tags and fixture commits.
type scratch struct {
	t    *testing.T
	repo *releasecheck.Repo
}

// newScratch clones the repository's HEAD without its tags, so that the
// tags a test makes are the only ones whatever has been released (the
// real releases would collide with a fixture's flex/v0.1.0), and makes the
// tags there.
func newScratch(t *testing.T, tags ...string) *scratch {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	src, err := releasecheck.OpenRepo(".")
	if err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	dir := t.TempDir()
	s := &scratch{t: t, repo: &releasecheck.Repo{Root: dir}}
	s.git("", "clone", "-q", "--no-hardlinks", "--no-tags", src.Root, dir)
	s.git(dir, "config", "user.name", "releasecheck test")
	s.git(dir, "config", "user.email", "test@example.com")
	for _, tag := range tags {
		s.git(dir, "tag", "-a", tag, "-m", tag)
	}
	return s
}

func (s *scratch) git(dir string, args ...string) string {
	s.t.Helper()
	if dir == "" {
		dir = s.repo.Root
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// commit writes files (path: contents; "" removes the file) and commits them.
func (s *scratch) commit(msg string, files map[string]string) {
	s.t.Helper()
	for name, data := range files {
		path := filepath.Join(s.repo.Root, filepath.FromSlash(name))
		if data == "" {
			s.git("", "rm", "-q", name)
			continue
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			s.t.Fatal(err)
		}
		s.git("", "add", name)
	}
	s.git("", "commit", "-q", "-m", msg)
}

// check runs the HEAD check of the modules in dirs and returns its log.
func (s *scratch) check(dirs ...string) (string, error) {
	s.t.Helper()
	p, err := s.repo.HeadPlan("HEAD")
	if err != nil {
		s.t.Fatal(err)
	}
	var log strings.Builder
	c := &releasecheck.Checker{Repo: s.repo, Go: "1.25", Dir: s.t.TempDir(), Log: &log}
	err = c.Run(context.Background(), p.Only(dirs...))
	return log.String(), err
}

// drift is the fixture change: flex gains a function after flex/v0.1.0,
// and flexhttp calls it.
var drift = map[string]string{
	"flex/drift.go":     "package flex\n\n// Drift is a fixture: a function that no tag of flex has.\nfunc Drift() string { return \"drift\" }\n",
	"flexhttp/drift.go": "package flexhttp\n\nimport \"github.com/go-flexible/flexible/flex\"\n\nvar drift = flex.Drift()\n",
}

// An adapter that uses a flex change made after the tag it requires fails
// the check, as it fails for its users, although it builds and tests with
// GOWORK=off (the replace lines point at the work tree).
func TestHeadFailsWhenAdapterNeedsUntaggedFlexChange(t *testing.T) {
	t.Parallel()
	s := newScratch(t, "flex/v0.1.0", "flexhttp/v0.1.0")
	s.commit("fixture: flexhttp uses a flex function that flex/v0.1.0 lacks", drift)
	log, err := s.check("flexhttp")
	if err == nil {
		t.Fatalf("check passed, want it to fail for flexhttp\n%s", log)
	}
	for _, want := range []string{"flexhttp v0.1.1 (untagged", "undefined: flex.Drift"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}

	// The way out: require the flex version that has the change. The
	// check makes flex v0.1.1 from HEAD, as the release will.
	gomod := s.git("", "show", "HEAD:flexhttp/go.mod")
	s.commit("fixture: flexhttp requires flex v0.1.1", map[string]string{
		"flexhttp/go.mod": requireFlex(gomod, "v0.1.1"),
	})
	if log, err := s.check("flexhttp"); err != nil {
		t.Fatalf("check after the requirement bump: %v\n%s", err, log)
	}
}

// requireFlex rewrites a go.mod's requirement of flex to version.
func requireFlex(gomod, version string) string {
	var lines []string
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasSuffix(f[len(f)-2], "/flexible/flex") {
			line = strings.Replace(line, f[len(f)-1], version, 1)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// A module whose go.mod requires a sibling that only its tests import
// fails: its users would get that module for nothing.
func TestHeadFailsOnTestOnlyRequirement(t *testing.T) {
	t.Parallel()
	s := newScratch(t)
	s.commit("fixture: flexcron imports flex only in its tests", map[string]string{"flexcron/worker.go": ""})
	log, err := s.check("flexcron")
	if err == nil {
		t.Fatalf("check passed, want it to fail for flexcron\n%s", log)
	}
	want := "github.com/go-flexible/flexible/flex v0.1.0 (required by github.com/go-flexible/flexible/flexcron@v0.1.0)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q:\n%v", want, err)
	}
}

// A module whose go line is above the lowest supported Go release raises
// the go line of every module that requires it.
func TestHeadFailsWhenGoLineRises(t *testing.T) {
	t.Parallel()
	s := newScratch(t)
	gomod := s.git("", "show", "HEAD:flexhttp/go.mod")
	s.commit("fixture: flexhttp declares go 1.26.0", map[string]string{
		"flexhttp/go.mod": strings.Replace(gomod, "\ngo 1.25\n", "\ngo 1.26.0\n", 1),
	})
	log, err := s.check("flexhttp")
	if err == nil {
		t.Fatalf("check passed, want it to fail for flexhttp\n%s", log)
	}
	want := "a module with go 1.25 that requires it gets go 1.26.0, because of: github.com/go-flexible/flexible/flexhttp v0.1.0 (go 1.26.0)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q:\n%v", want, err)
	}
}

// make release refuses a release that fails the check, and a sibling
// requirement that no tag makes, and makes no tag then; a good release is
// tagged in dependency order, with the push commands in that order.
func TestRelease(t *testing.T) {
	t.Parallel()
	s := newScratch(t, "flex/v0.1.0", "flexhttp/v0.1.0")
	s.commit("fixture: flexhttp uses a flex function that flex/v0.1.0 lacks", drift)
	release := func(tags ...string) (string, error) {
		var log strings.Builder
		c := &releasecheck.Checker{Repo: s.repo, Go: "1.25", Dir: t.TempDir(), Log: &log}
		err := s.repo.Release(context.Background(), c, tags, false, &log)
		return log.String(), err
	}
	tagged := func(name string) bool {
		out := s.git("", "tag", "--list", name)
		return strings.TrimSpace(out) == name
	}

	_, err := release("flexhttp/v0.1.1")
	if err == nil || !strings.Contains(err.Error(), "undefined: flex.Drift") || !strings.Contains(err.Error(), "no tag made") {
		t.Fatalf("release of flexhttp needing an untagged flex change: got %v, want a refusal naming flex.Drift", err)
	}
	if tagged("flexhttp/v0.1.1") {
		t.Fatal("a refused release made its tag")
	}

	gomod := s.git("", "show", "HEAD:flexhttp/go.mod")
	s.commit("fixture: flexhttp requires flex v0.1.1", map[string]string{"flexhttp/go.mod": requireFlex(gomod, "v0.1.1")})
	_, err = release("flexhttp/v0.1.1")
	if want := "flexhttp requires github.com/go-flexible/flexible/flex v0.1.1, but tag flex/v0.1.1 does not exist"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("release of flexhttp requiring an untagged flex: got %v, want %q", err, want)
	}

	log, err := release("flexhttp/v0.1.1", "flex/v0.1.1") // any order given
	if err != nil {
		t.Fatalf("release: %v\n%s", err, log)
	}
	for _, tag := range []string{"flex/v0.1.1", "flexhttp/v0.1.1"} {
		if !tagged(tag) {
			t.Errorf("tag %s not made", tag)
		}
	}
	want := "\tgit push origin flex/v0.1.1\n\tgit push origin flexhttp/v0.1.1\n"
	if !strings.Contains(log, want) {
		t.Errorf("push commands: got\n%s\nwant them in dependency order:\n%s", log, want)
	}
}

// Tags that make no sense are refused before anything is checked.
func TestReleaseRefusesBadTags(t *testing.T) {
	t.Parallel()
	s := newScratch(t, "flex/v0.2.0")
	for _, tc := range []struct{ tag, want string }{
		{"flex/v0.2.0", "tag flex/v0.2.0 exists; tags are never moved"},
		{"flex/v0.1.9", "not above the latest release flex/v0.2.0"},
		{"flex/0.3.0", "want DIR/vMAJOR.MINOR.PATCH"},
		{"nothing/v0.1.0", "nothing is not a released module"},
		{"examples/v0.1.0", "examples is not a released module"},
	} {
		err := s.repo.Release(context.Background(), nil, []string{tc.tag}, false, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("release %s: got %v, want %q", tc.tag, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(s.repo.Root, "flex", "new.go"), []byte("package flex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.repo.Release(context.Background(), nil, []string{"flex/v0.3.0"}, false, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the work tree is not clean") {
		t.Errorf("release from a dirty work tree: got %v, want a refusal", err)
	}
}

// The API check passes with no tag, reports a break at v0 and passes, and
// fails on a break at v1.
func TestAPI(t *testing.T) {
	t.Parallel()
	s := newScratch(t)
	api := func() (string, error) {
		var log strings.Builder
		err := s.repo.CheckAPI(context.Background(), t.TempDir(), releasecheck.APIDiff, &log)
		return log.String(), err
	}
	log, err := api()
	if err != nil || !strings.Contains(log, "api: flex: no release tag yet, nothing to compare: passes") {
		t.Fatalf("without tags: got %v, log:\n%s", err, log)
	}

	s.commit("fixture: flex gains Drift", map[string]string{"flex/drift.go": drift["flex/drift.go"]})
	s.git("", "tag", "-a", "flex/v0.2.0", "-m", "flex v0.2.0")
	s.commit("fixture: flex loses Drift", map[string]string{"flex/drift.go": ""})
	log, err = api()
	if err != nil || !strings.Contains(log, "api: flex: 1 incompatible changes since flex/v0.2.0; allowed at v0") || !strings.Contains(log, "Drift: removed") {
		t.Fatalf("a break at v0: got %v, want it reported and passing; log:\n%s", err, log)
	}

	s.git("", "tag", "-a", "flex/v1.0.0", "-m", "flex v1.0.0", "HEAD~1")
	_, err = api()
	if err == nil || !strings.Contains(err.Error(), "api: flex: 1 incompatible changes since flex/v1.0.0: a module at v1 or later needs a new major version") {
		t.Fatalf("a break at v1: got %v, want a failure", err)
	}
}

// The HEAD plan checks an unchanged module at its latest tag, and gives a
// changed or never tagged module a temporary version: the one its siblings
// require when no tag has it, else the next patch, else v0.1.0.
func TestHeadPlanVersions(t *testing.T) {
	t.Parallel()
	s := newScratch(t, "flex/v0.1.0", "flexhttp/v0.1.0", "flexcron/v0.2.0")
	s.commit("fixture: flex changes", map[string]string{"flex/drift.go": drift["flex/drift.go"]})
	p, err := s.repo.HeadPlan("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rel := range p.Check {
		got = append(got, fmt.Sprintf("%s %s %v", rel.Module.Dir, rel.Version, rel.Temporary))
	}
	want := []string{
		"flex v0.1.1 true",        // changed since flex/v0.1.0
		"flexcron v0.2.0 false",   // unchanged since its tag
		"flexhttp v0.1.0 false",   // unchanged since its tag
		"flexkafka v0.1.0 true",   // never tagged: what its siblings require (none), else v0.1.0
		"flexmetrics v0.1.0 true", // never tagged
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(p.Proxy) != 3+3 { // the three tags and three temporary versions
		t.Errorf("the proxy serves %d versions, want 6: %v", len(p.Proxy), p.Proxy)
	}

	gomod := s.git("", "show", "HEAD:flexhttp/go.mod")
	s.commit("fixture: flexhttp requires flex v0.3.0", map[string]string{"flexhttp/go.mod": requireFlex(gomod, "v0.3.0")})
	if p, err = s.repo.HeadPlan("HEAD"); err != nil {
		t.Fatal(err)
	}
	if got := p.Check[0].String(); !strings.HasPrefix(got, "flex v0.3.0 (untagged, at ") {
		t.Errorf("flex, required at v0.3.0 by flexhttp: got %q, want v0.3.0, untagged", got)
	}
}
