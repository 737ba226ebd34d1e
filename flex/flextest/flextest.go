// Package flextest checks that a [flex.Worker] keeps the contract of
// [flex.Runner] and [flex.Halter], as testing/slogtest does for slog
// handlers. Every adapter's tests call [TestWorker].
//
//	func TestConformance(t *testing.T) {
//		flextest.TestWorker(t, func(t *testing.T) flex.Worker {
//			w, err := mypkg.New(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return w
//		})
//	}
package flextest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// timeout bounds every wait in the suite. It is not a performance target:
// a conforming worker returns far sooner; a broken one hangs forever.
// (A variable so that the suite's own tests can fail broken workers fast.)
var timeout = 10 * time.Second

// settle is how long HaltStopsRun watches for a Run that returns unasked.
var settle = 100 * time.Millisecond

// TestWorker runs the conformance suite as subtests of t. newWorker must
// return a new, unstarted Worker on each call; it may register cleanups on
// the t it is given.
//
// The suite checks that:
//   - Run blocks until Halt (it does not return within a short moment
//     unasked), and Halt makes Run return nil;
//   - Halt before Run, or without Run, returns, and a later Run returns nil promptly;
//   - a second Halt, and concurrent Halts, return, and Run returns nil;
//   - Halt with a context that is already done returns promptly;
//   - cancelling Run's context makes Run return;
//   - a Worker that implements flex.Readier becomes ready while running.
func TestWorker(t *testing.T, newWorker func(t *testing.T) flex.Worker) {
	t.Run("HaltStopsRun", func(t *testing.T) {
		w := newWorker(t)
		done := startRun(t, w, context.Background())
		waitReady(t, w, done)
		// Nothing signals that Run is blocked for good: give a Run that
		// wrongly returns by itself a moment to do so. This can only miss a
		// broken worker, never fail a good one, and it makes Halt come
		// after Run has started.
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before Halt", err)
		case <-time.After(settle):
		}
		if err := halt(t, w, context.Background()); err != nil {
			t.Fatalf("Halt: %v", err)
		}
		if err := wait(t, done, "Run after Halt"); err != nil {
			t.Fatalf("Run after Halt returned %v, want nil", err)
		}
	})

	t.Run("HaltBeforeRun", func(t *testing.T) {
		w := newWorker(t)
		_ = halt(t, w, context.Background())
		done := startRun(t, w, context.Background())
		if err := wait(t, done, "Run after an earlier Halt"); err != nil {
			t.Errorf("Run after an earlier Halt returned %v, want nil", err)
		}
	})

	t.Run("HaltWithoutRun", func(t *testing.T) {
		w := newWorker(t)
		_ = halt(t, w, context.Background())
		_ = halt(t, w, context.Background())
	})

	t.Run("HaltTwice", func(t *testing.T) {
		w := newWorker(t)
		done := startRun(t, w, context.Background())
		waitReady(t, w, done)
		_ = halt(t, w, context.Background())
		_ = halt(t, w, context.Background())
		if err := wait(t, done, "Run after two Halts"); err != nil {
			t.Errorf("Run after two Halts returned %v, want nil", err)
		}
	})

	t.Run("ConcurrentHalts", func(t *testing.T) {
		w := newWorker(t)
		done := startRun(t, w, context.Background())
		waitReady(t, w, done)
		halts := make(chan error, 3)
		for range cap(halts) {
			go func() { halts <- w.Halt(context.Background()) }()
		}
		for range cap(halts) {
			wait(t, halts, "concurrent Halt")
		}
		if err := wait(t, done, "Run after concurrent Halts"); err != nil {
			t.Errorf("Run after concurrent Halts returned %v, want nil", err)
		}
	})

	t.Run("HaltWithExpiredContext", func(t *testing.T) {
		w := newWorker(t)
		done := startRun(t, w, context.Background())
		waitReady(t, w, done)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = halt(t, w, ctx) // may report the expired context; must not hang
		if err := halt(t, w, context.Background()); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("second Halt: %v", err)
		}
		wait(t, done, "Run after Halt with an expired context")
	})

	t.Run("CancelRunContext", func(t *testing.T) {
		w := newWorker(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := startRun(t, w, ctx)
		waitReady(t, w, done)
		cancel()
		wait(t, done, "Run after its context was cancelled")
		_ = halt(t, w, context.Background())
	})
}

func startRun(t *testing.T, w flex.Worker, ctx context.Context) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		// Stop what a failed subtest left running, without hanging on a
		// Halt that ignores its context (the subtests report that).
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		halted := make(chan error, 1)
		go func() { halted <- w.Halt(ctx) }()
		select {
		case <-halted:
		case <-time.After(2 * timeout):
		}
	})
	return done
}

// waitReady waits until a Readier is ready; other workers count as ready.
func waitReady(t *testing.T, w flex.Worker, done chan error) {
	t.Helper()
	r, ok := w.(flex.Readier)
	if !ok {
		return
	}
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before the worker was ready", err)
	case <-time.After(timeout):
		t.Fatalf("worker not ready after %v", timeout)
	}
}

func halt(t *testing.T, w flex.Worker, ctx context.Context) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- w.Halt(ctx) }()
	return wait(t, result, "Halt")
}

func wait(t *testing.T, ch chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %v", what, timeout)
		return nil
	}
}
