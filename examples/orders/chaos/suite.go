//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// suite is what the scenarios share: the binaries, PostgreSQL, the work
// directory and the size of the load.
type suite struct {
	options
	out  io.Writer
	work string // temporary; removed at the end unless keep
	bin  binaries
	pg   *postgres // nil when PostgreSQL cannot run here
	noPG string    // why pg is nil

	mu    sync.Mutex
	procs []*process // every process started, killed at the end if still running
}

// binaries are the programs the scenarios run.
type binaries struct{ orders, loadgen, devbroker string }

func newSuite(ctx context.Context, o options, out io.Writer) (*suite, error) {
	work, err := os.MkdirTemp("", "flexchaos-")
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	s := &suite{options: o, out: out, work: work}
	fmt.Fprintf(out, "chaos: work directory %s\n", work)
	if err := s.build(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.pg, err = startPostgres(ctx, s.logf)
	if err != nil {
		s.noPG = err.Error()
		fmt.Fprintf(out, "chaos: PostgreSQL scenarios will be skipped: %s\n", s.noPG)
	}
	return s, nil
}

// build compiles the order system, the load generator and the devbroker.
func (s *suite) build(ctx context.Context) error {
	const module = "github.com/go-flexible/flexible/examples/"
	s.bin = binaries{
		orders:    filepath.Join(s.work, "orders"),
		loadgen:   filepath.Join(s.work, "loadgen"),
		devbroker: filepath.Join(s.work, "devbroker"),
	}
	started := time.Now()
	for path, pkg := range map[string]string{
		s.bin.orders: module + "orders", s.bin.loadgen: module + "orders/loadgen", s.bin.devbroker: module + "devbroker",
	} {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", path, pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("chaos: go build %s: %w\n%s\n(run chaos from the examples module: cd examples && go run ./orders/chaos)", pkg, err, out)
		}
	}
	fmt.Fprintf(s.out, "chaos: built orders, loadgen and devbroker in %s\n", time.Since(started).Round(time.Millisecond))
	return nil
}

// close stops every process still running and PostgreSQL, and removes
// the work directory unless it is to be kept.
func (s *suite) close() {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	if s.pg != nil {
		s.pg.close()
	}
	if !s.keep {
		os.RemoveAll(s.work)
	}
}

func (s *suite) track(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
}

// logf prints a step, with -v only.
func (s *suite) logf(format string, args ...any) {
	if s.verbose {
		fmt.Fprintf(s.out, "  · "+format+"\n", args...)
	}
}

// runScenario runs sc in a directory of its own and prints its outcome.
func (s *suite) runScenario(ctx context.Context, sc scenario) *result {
	r := &result{name: sc.name}
	fmt.Fprintf(s.out, "=== %s: %s\n", sc.name, sc.title)
	if sc.postgres && s.pg == nil {
		r.skipped = "no PostgreSQL: " + s.noPG
		fmt.Fprintf(s.out, "--- SKIP %s: %s\n", sc.name, r.skipped)
		return r
	}
	dir := filepath.Join(s.work, strings.ReplaceAll(sc.name, "/", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.failf("chaos could not run it: %v", err)
		return r
	}
	env := &scenarioEnv{suite: s, dir: dir, r: r}
	started := time.Now()
	if err := sc.run(ctx, env); err != nil {
		r.failf("chaos could not run it: %v", err)
	}
	env.stopAll()
	env.checkLogs()
	r.took = time.Since(started)
	if len(r.failures) == 0 {
		fmt.Fprintf(s.out, "--- PASS %s (%s): %s\n", sc.name, r.took.Round(time.Second), strings.Join(r.figures, "; "))
		return r
	}
	fmt.Fprintf(s.out, "--- FAIL %s (%s): %s\n", sc.name, r.took.Round(time.Second), strings.Join(r.figures, "; "))
	for _, f := range r.failures {
		fmt.Fprintf(s.out, "    BROKEN: %s\n", f)
	}
	env.printLogTails()
	return r
}
