//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a program the suite runs, restartable, its output appended
// to a log file of its own. It knows whether it was asked to exit, so
// that a crash is told from a kill.
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run has exited
	state    *os.ProcessState
	asked    bool // the current run was signalled by the suite
	starts   int
	startsAt time.Time
}

// start runs the program; it must not be running.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !isClosed(p.done) {
		return fmt.Errorf("%s: started while running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: %s start %d at %s\n", p.name, p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	// Should chaos itself die, its children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state, p.asked, p.startsAt = cmd, done, nil, false, time.Now()
	go func() {
		cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// exited is closed when the current run exits.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done != nil && !isClosed(p.done)
}

// crashed reports how the current run exited when nobody asked it to:
// "" while it runs or when the suite signalled it.
func (p *process) crashed() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil || p.asked {
		return ""
	}
	return p.state.String()
}

// signal sends sig to the current run, marking its exit as asked for.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil || isClosed(p.done) {
		return fmt.Errorf("%s: not running", p.name)
	}
	p.asked = true
	return p.cmd.Process.Signal(sig)
}

// kill sends SIGKILL and waits for the exit; a no-op when not running.
func (p *process) kill() {
	if p.signal(syscall.SIGKILL) == nil {
		<-p.exited()
	}
}

// errStillRunning is returned by stop when the process outlived its
// timeout; it is then killed.
var errStillRunning = errors.New("still running")

// stop sends SIGTERM and waits at most timeout for the exit. It returns
// the exit code and how long the exit took.
func (p *process) stop(timeout time.Duration) (int, time.Duration, error) {
	started := time.Now()
	if err := p.signal(syscall.SIGTERM); err != nil {
		return -1, 0, err
	}
	select {
	case <-p.exited():
	case <-time.After(timeout):
		p.kill()
		return -1, time.Since(started), fmt.Errorf("%s: %w %s after SIGTERM; killed", p.name, errStillRunning, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ExitCode(), time.Since(started), nil
}
