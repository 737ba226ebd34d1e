// Command rollingdeploy measures what a rolling deploy costs each way of
// stopping a Go HTTP service in examples/compare.
//
// For each way it builds the program, starts three replicas behind HAProxy
// on loopback (active health checks on the readiness endpoint, or on / for
// the ways without one), sends a steady open-loop load through HAProxy, and
// rolls the replicas one after another: SIGTERM, wait for the exit, start a
// new process on the same port, wait until HAProxy's stats socket reports it
// UP. It prints one row per way: the requests sent, the failures by kind,
// the slowest request, the mean duration of one deploy and the lines of the
// way's main.go.
//
// Usage:
//
//	rollingdeploy [-short] [-run regexp] [-deploys n] [-rate r] [-method m] [-v] [-keep]
//
// It exits 1 if the way "flex" failed any request (the promise of the
// README's "What a deploy costs"), and 0 with a message when haproxy is not
// installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// config is what the flags set.
type config struct {
	run     *regexp.Regexp
	deploys int
	rate    int
	method  string
	verbose bool
	keep    bool
	short   bool
	timing  timing
}

// errNoHAProxy is returned when haproxy is not on the PATH.
var errNoHAProxy = errors.New("rollingdeploy: haproxy is not installed (Debian: apt-get install haproxy); skipped")

// parseFlags reads args into a config, checking every value.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("rollingdeploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "CI run: checks and delay 5 times faster, 2 deploys per way")
	runExpr := fs.String("run", "", "only the ways whose name matches this regexp")
	deploys := fs.Int("deploys", 0, "rolling deploys per way (default 3, 2 with -short)")
	rate := fs.Int("rate", 300, "requests per second through HAProxy")
	method := fs.String("method", "POST", "HTTP method of the load: POST, which nobody retries on their own, or GET, which Go's client retries on a reused connection closed without an answer")
	verbose := fs.Bool("v", false, "print each replacement and the first failures of each way")
	keep := fs.Bool("keep", false, "keep the HAProxy configuration and every process's log, and print where")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{deploys: *deploys, rate: *rate, method: *method, verbose: *verbose, keep: *keep, short: *short, timing: fullTiming}
	if *short {
		cfg.timing = shortTiming
	}
	if cfg.deploys == 0 {
		cfg.deploys = 3
		if *short {
			cfg.deploys = 2
		}
	}
	var err error
	if cfg.run, err = regexp.Compile(*runExpr); err != nil {
		return config{}, fmt.Errorf("rollingdeploy: invalid -run %q: %w", *runExpr, err)
	}
	if !slices.ContainsFunc(ways(), func(w way) bool { return cfg.run.MatchString(w.name) }) {
		return config{}, fmt.Errorf("rollingdeploy: invalid -run %q: matches no way", *runExpr)
	}
	switch {
	case cfg.deploys < 1:
		return config{}, fmt.Errorf("rollingdeploy: invalid -deploys %d: must be at least 1", cfg.deploys)
	case cfg.rate < 1 || cfg.rate > 5000:
		return config{}, fmt.Errorf("rollingdeploy: invalid -rate %d: must be 1 to 5000", cfg.rate)
	case cfg.method != "GET" && cfg.method != "POST":
		return config{}, fmt.Errorf("rollingdeploy: invalid -method %q: must be GET or POST", cfg.method)
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := compare(ctx, cfg, os.Stdout)
	if errors.Is(err, errNoHAProxy) {
		fmt.Println(err)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	printSettings(os.Stdout, cfg)
	printTable(os.Stdout, results)
	if cfg.verbose {
		printFailures(os.Stdout, results)
	}
	for _, r := range results {
		if r.way.name == "flex" && r.tally.failed() > 0 {
			fmt.Fprintf(os.Stderr, "rollingdeploy: flex failed %d requests; it must fail none\n", r.tally.failed())
			os.Exit(1)
		}
	}
}

// compare builds and measures every way cfg.run selects, in order.
// Progress lines go to out with -v.
func compare(ctx context.Context, cfg config, out io.Writer) ([]result, error) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return nil, errNoHAProxy
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "rollingdeploy-")
	if err != nil {
		return nil, err
	}
	if cfg.keep {
		fmt.Fprintln(out, "rollingdeploy: logs and configuration kept in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	progress := io.Discard
	if cfg.verbose {
		progress = out
	}
	var results []result
	for _, w := range ways() {
		if !cfg.run.MatchString(w.name) {
			continue
		}
		bin, err := build(root, w.dir, tmp)
		if err != nil {
			return nil, err
		}
		r, err := measure(ctx, cfg, w, bin, tmp, progress)
		if err != nil {
			return nil, fmt.Errorf("rollingdeploy: %s: %w", w.name, err)
		}
		if r.mainLines, err = mainLines(filepath.Join(root, w.dir, "main.go")); err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// moduleRoot returns the folder of the examples/compare module.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("rollingdeploy: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("rollingdeploy: run me inside the examples/compare module")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the main package in root/dir into tmp and returns its path.
func build(root, dir, tmp string) (string, error) {
	bin := filepath.Join(tmp, dir)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // flex and flex-nodelay share a program
	}
	cmd := exec.Command("go", "build", "-o", bin, "./"+dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rollingdeploy: go build ./%s: %w\n%s", dir, err, out)
	}
	return bin, nil
}

// printSettings writes the settings a reader needs to rerun the table.
func printSettings(out io.Writer, cfg config) {
	t := cfg.timing
	fmt.Fprintf(out, "%d replicas per way, %d rolling deploys, %d %s req/s open-loop through HAProxy, 20 ms per request\n",
		replicas, cfg.deploys, cfg.rate, cfg.method)
	fmt.Fprintf(out, "HAProxy checks: inter %s fall %d rise %d; retries 3, redispatch; flex: FLEX_SHUTDOWN_DELAY=%s FLEX_SHUTDOWN_TIMEOUT=%s; others: Shutdown timeout %s\n",
		t.inter, t.fall, t.rise, t.delay, t.timeout, t.timeout)
}
