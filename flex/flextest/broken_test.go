package flextest

// These tests prove that the suite fails broken workers: each runs the
// suite against one broken worker in a child process (a failing subtest
// cannot be contained in the parent) and checks which subtest failed.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

const brokenEnv = "FLEXTEST_BROKEN"

// broken is a worker whose faults are chosen by name. Without faults it
// keeps the contract: Run blocks until Halt or its context is done.
type broken struct {
	fault string

	mu      sync.Mutex
	stop    chan struct{}
	halted  bool
	running bool
	ready   chan struct{}
	stopped bool
}

func newBroken(fault string) *broken {
	return &broken{fault: fault, stop: make(chan struct{}), ready: make(chan struct{})}
}

func (b *broken) Run(ctx context.Context) error {
	b.mu.Lock()
	early := b.halted
	b.running = true
	b.mu.Unlock()
	switch {
	case b.fault == "run returns at once":
		return nil
	case early && b.fault == "run after early halt fails":
		return errors.New("server closed")
	case early && b.fault != "early halt ignored" && b.fault != "run ignores halt":
		return nil
	}
	done := ctx.Done()
	if b.fault == "run ignores ctx" {
		done = nil
	}
	stop := b.stop
	if b.fault == "run ignores halt" {
		stop = nil
	}
	select {
	case <-stop:
		if b.fault == "halt makes run fail" {
			return errors.New("server closed")
		}
		return nil
	case <-done:
		return ctx.Err()
	}
}

func (b *broken) Halt(ctx context.Context) error {
	b.mu.Lock()
	if b.fault == "early halt ignored" && !b.running {
		b.mu.Unlock()
		return nil // forgets that it was asked to stop
	}
	b.halted = true
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
	if b.fault == "halt ignores ctx" {
		select {} // waits for a drain that never ends, whatever ctx says
	}
	return nil
}

// notReady is a broken Readier that never becomes ready.
type notReady struct{ *broken }

func (n notReady) Ready() <-chan struct{} { return n.ready }

func TestBrokenChild(t *testing.T) {
	fault := os.Getenv(brokenEnv)
	if fault == "" {
		t.Skip("runs only as a child process of TestSuiteFailsBrokenWorkers")
	}
	if fault != "none" { // the conforming control keeps the real bounds
		timeout = 100 * time.Millisecond // a hang fails fast
	}
	if fault == "run returns at once" {
		settle = time.Second // surely seen, however loaded the machine
	}
	TestWorker(t, func(t *testing.T) flex.Worker {
		if fault == "never ready" {
			return notReady{newBroken(fault)}
		}
		return newBroken(fault)
	})
}

func TestSuiteFailsBrokenWorkers(t *testing.T) {
	for fault, wantFailed := range map[string]string{
		"none":                       "", // the control: a conforming worker passes
		"run returns at once":        "HaltStopsRun",
		"run ignores halt":           "HaltStopsRun",
		"halt makes run fail":        "HaltStopsRun",
		"halt ignores ctx":           "HaltWithExpiredContext",
		"early halt ignored":         "HaltBeforeRun",
		"run after early halt fails": "HaltBeforeRun",
		"run ignores ctx":            "CancelRunContext",
		"never ready":                "HaltStopsRun",
	} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChild$", "-test.v", "-test.count=1", "-test.timeout=30s")
			cmd.Env = append(os.Environ(), brokenEnv+"="+fault)
			out, err := cmd.CombinedOutput()
			if wantFailed == "" {
				if err != nil {
					t.Fatalf("the suite fails a conforming worker: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passes a worker whose fault is %q:\n%s", fault, out)
			}
			if want := "--- FAIL: TestBrokenChild/" + wantFailed + " "; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
