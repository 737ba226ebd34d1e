package releasecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// Checker builds a plan's module proxy and checks its releases as a user
// gets them: from a new module outside the repository, with no go.work and
// no replace, through the proxy only.
type Checker struct {
	Repo *Repo
	// Go is the go line of each downstream module: the lowest Go release
	// the project supports, such as "1.25". A release that raises it fails.
	Go string
	// Dir is an empty folder for the proxy, the downstream modules and their
	// module cache. The caller removes it.
	Dir string
	// Log receives a line per release.
	Log io.Writer
	// Verbose writes each go command run downstream to Log, with its time.
	Verbose bool
}

// downstreamPath is the module path of every downstream module.
const downstreamPath = "example.com/downstream"

// Run writes the plan's proxy and checks each of its releases: `go get`
// at the version, the go line unchanged, a module graph holding only what
// the release's code imports, and a program that imports every package of
// the release, built and run, then the release's examples run. It returns
// the failures of every release, joined.
func (c *Checker) Run(ctx context.Context, p Plan) error {
	if len(p.Check) == 0 {
		fmt.Fprintln(c.Log, "releasecheck: no release to check (no module is tagged, and none was asked for)")
		return nil
	}
	proxy := filepath.Join(c.Dir, "proxy")
	if err := c.Repo.WriteProxy(proxy, p.Proxy); err != nil {
		return err
	}
	env, err := c.env(proxy)
	if err != nil {
		return err
	}
	var errs []error
	for _, rel := range p.Check {
		graph, err := c.check(ctx, rel, p, env)
		if err != nil {
			fmt.Fprintf(c.Log, "FAIL %s\n", rel)
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
			continue
		}
		fmt.Fprintf(c.Log, "ok   %s: go %s kept; go list -m all: %s\n", rel, c.Go, graph)
	}
	return errors.Join(errs...)
}

// env is the environment of every go command run downstream. The proxy
// serves the repository's modules; the module cache's download folder,
// then the usual proxy, serve the others. Downstream modules get a module
// cache of their own, because a temporary version is made again, with
// other contents, by every check.
func (c *Checker) env(proxy string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		return nil, fmt.Errorf("releasecheck: go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("releasecheck: go env: unexpected output %q", out)
	}
	goproxy := "file://" + filepath.ToSlash(proxy) + ",file://" + filepath.ToSlash(filepath.Join(lines[0], "cache", "download"))
	if lines[1] != "" && lines[1] != "off" {
		goproxy += "," + lines[1]
	}
	return append(os.Environ(),
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw -trimpath",
		"GOPROXY="+goproxy,
		"GOSUMDB=off", // the proxy's zips are made here: no checksum database knows them
		// A private pattern would make the go command fetch the repository's
		// modules from version control, around the proxy.
		"GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=",
		"GOTOOLCHAIN=local",
		"GOMODCACHE="+filepath.Join(c.Dir, "modcache"),
	), nil
}

// check runs every downstream step for one release.
// It returns the downstream module graph, on one line.
func (c *Checker) check(ctx context.Context, rel Release, p Plan, env []string) (string, error) {
	dir := filepath.Join(c.Dir, "downstream", rel.Module.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gomod := "module " + downstreamPath + "\n\ngo " + c.Go + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	run := func(args ...string) (string, error) {
		start := time.Now()
		out, err := goCmd(ctx, dir, env, args...)
		if c.Verbose {
			fmt.Fprintf(c.Log, "\t%.1fs go %s\n", time.Since(start).Seconds(), strings.Join(args, " "))
		}
		return out, err
	}
	if _, err := run("get", rel.Module.Path+"@"+rel.Version); err != nil {
		return "", err
	}
	pkgs, err := importable(run, rel.Module.Path)
	if err != nil {
		return "", err
	}
	if err := writeProgram(dir, rel, pkgs); err != nil {
		return "", err
	}
	if _, err := run("mod", "tidy"); err != nil {
		return "", err
	}
	var errs []error
	for _, step := range []func() error{
		func() error { return c.checkGoLine(dir, run) },
		func() error { return checkServed(run, RepoPrefix(rel.Module), p) },
		func() error { return c.checkGraph(ctx, rel, run, env) },
	} {
		if err := step(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	graph, err := moduleGraph(run)
	if err != nil {
		return "", err
	}
	if err := runProgram(ctx, dir, run); err != nil {
		return "", err
	}
	if _, err := run(append([]string{"test", "-count=1", "-run", "^Example"}, pkgs...)...); err != nil {
		return "", err
	}
	return graph, nil
}

// checkGraph runs checkGraph with what the release's code requires.
func (c *Checker) checkGraph(ctx context.Context, rel Release, run func(...string) (string, error), env []string) error {
	src, err := run("list", "-m", "-f", "{{.Dir}}", rel.Module.Path)
	if err != nil {
		return err
	}
	runIn := func(d string, args ...string) (string, error) { return goCmd(ctx, d, env, args...) }
	need, err := codeRequirements(runIn, strings.TrimSpace(src), filepath.Join(c.Dir, "code", rel.Module.Dir))
	if err != nil {
		return fmt.Errorf("tidy without its tests: %w", err)
	}
	return checkGraph(run, RepoPrefix(rel.Module), rel.Module.Path, need)
}

// moduleGraph returns the downstream module graph, without the main module.
func moduleGraph(run func(...string) (string, error)) (string, error) {
	out, err := run("list", "-m", "-f", "{{if not .Main}}{{.Path}}@{{.Version}}{{end}}", "all")
	if err != nil {
		return "", err
	}
	mods := strings.Fields(out)
	return fmt.Sprintf("%d modules: %s", len(mods), strings.Join(mods, " ")), nil
}

// importable lists the packages of module path that another module may
// import: neither internal nor commands.
func importable(run func(...string) (string, error), path string) ([]string, error) {
	out, err := run("list", "-f", `{{if ne .Name "main"}}{{.ImportPath}}{{end}}`, path+"/...")
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, p := range strings.Fields(out) {
		if !strings.Contains(p+"/", "/internal/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("module %s has no importable package", path)
	}
	return pkgs, nil
}

// writeProgram writes a main package that imports each package.
func writeProgram(dir string, rel Release, pkgs []string) error {
	var b strings.Builder
	b.WriteString("// Command downstream imports every package of " + rel.Module.Path + " " + rel.Version + ".\npackage main\n\nimport (\n\t\"fmt\"\n\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	fmt.Fprintf(&b, ")\n\nfunc main() { fmt.Println(%q) }\n", "imported "+rel.Module.Path+" "+rel.Version)
	return os.WriteFile(filepath.Join(dir, "main.go"), []byte(b.String()), 0o644)
}

// checkGoLine fails when getting the release raised the downstream go
// line, naming the modules whose go line is higher.
func (c *Checker) checkGoLine(dir string, run func(...string) (string, error)) error {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return err
	}
	if f.Go != nil && f.Go.Version == c.Go {
		return nil
	}
	out, err := run("list", "-m", "-f", "{{.Path}} {{.Version}} {{.GoVersion}}", "all")
	if err != nil {
		return err
	}
	var high []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && semver.Compare("v"+f[2], "v"+c.Go) > 0 {
			high = append(high, fmt.Sprintf("%s %s (go %s)", f[0], f[1], f[2]))
		}
	}
	got := "none"
	if f.Go != nil {
		got = f.Go.Version
	}
	return fmt.Errorf("a module with go %s that requires it gets go %s, because of: %s", c.Go, got, strings.Join(high, ", "))
}

// checkServed fails when a module of the repository came from elsewhere
// than the plan's proxy: a version that no tag or temporary tag made.
func checkServed(run func(...string) (string, error), prefix string, p Plan) error {
	out, err := run("list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		if !served(p, f[0], f[1]) {
			return fmt.Errorf("it needs %s %s, which is not tagged in this repository", f[0], f[1])
		}
	}
	return nil
}

func served(p Plan, path, version string) bool {
	for _, r := range p.Proxy {
		if r.Module.Path == path && r.Version == version {
			return true
		}
	}
	return false
}

// runProgram builds the downstream program and runs it.
func runProgram(ctx context.Context, dir string, run func(...string) (string, error)) error {
	bin := filepath.Join(dir, "downstream")
	if _, err := run("build", "-o", bin, "."); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the program that imports it failed: %w: %s", err, out)
	}
	return nil
}

// goCmd runs the go command in dir and returns its standard output; its
// error holds the command and what it printed to standard error.
func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, indent(stderr.String()+stdout.String()))
	}
	return stdout.String(), nil
}

func indent(s string) string {
	s = strings.TrimSpace(s)
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
