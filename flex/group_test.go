package flex_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
)

func TestGroupHaltsMembersConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newProbe("a"), newProbe("b")
		// Each Halt waits for the other's to begin: sequential halting
		// would wait out the whole deadline.
		for _, pair := range [][2]*probe{{a, b}, {b, a}} {
			self, other := pair[0], pair[1]
			self.onHalt = func(ctx context.Context) error {
				select {
				case <-other.halting:
				case <-ctx.Done():
					return ctx.Err()
				}
				close(self.stop)
				return nil
			}
		}
		g := flex.NewGroup(a, b)
		ctx, cancel := context.WithCancel(context.Background())
		result := startAsync(ctx, flex.New(quiet(nil, flex.WithShutdownTimeout(time.Minute))...), g)
		<-a.started
		<-b.started
		cancel()
		began := time.Now()
		if err := <-result; err != nil {
			t.Fatalf("Start = %v", err)
		}
		if got := time.Since(began); got != 0 {
			t.Errorf("halting took %v of fake time, want 0 (concurrent halts)", got)
		}
	})
}

func TestGroupRunReturnsFirstMemberError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBoom, errLate, errHalt := errors.New("boom"), errors.New("late"), errors.New("halt")
		a, b, c := newProbe("a"), newProbe("b"), newProbe("c")
		a.runErr = errBoom
		b.haltErr = errHalt
		// c's Halt makes its Run return errLate, and waits for that, as a
		// worker's Halt waits for its Run: returning at once would let
		// Halt cancel c's Run context while Run chooses between exit and
		// ctx.Done, and a Run that returns ctx.Err() loses errLate.
		c.onHalt = func(context.Context) error { c.runErr = errLate; close(c.exit); <-c.done; return nil }
		g := flex.NewGroup(a, b, c)
		done := make(chan error, 1)
		go func() { done <- g.Run(context.Background()) }()
		<-a.started
		<-b.started
		<-c.started
		close(a.exit)
		if err := <-done; !errors.Is(err, errBoom) {
			t.Fatalf("Run = %v, want %v", err, errBoom)
		}
		if isClosed(b.halting) {
			t.Error("Run halted the other members itself; Halt should")
		}
		err := g.Halt(context.Background())
		if !errors.Is(err, errHalt) || !errors.Is(err, errLate) {
			t.Errorf("Halt = %v, want %v and %v", err, errHalt, errLate)
		}
		if errors.Is(err, errBoom) {
			t.Errorf("Halt repeats Run's error: %v", err)
		}
	})
}

func TestGroupHaltDeadlineNamesStuckMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		a := newProbe("a")
		g := flex.NewGroup(a, flex.Named("stuck", &stubborn{release: release}))
		done := make(chan error, 1)
		go func() { done <- g.Run(context.Background()) }()
		<-a.started
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := g.Halt(ctx)
		if !errors.Is(err, flex.ErrShutdownTimeout) || !strings.Contains(err.Error(), "still running: stuck") {
			t.Errorf("Halt = %v, want ErrShutdownTimeout naming stuck", err)
		}
		close(release)
		<-done
	})
}

func TestGroupReadyAndCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &readyProbe{probe: newProbe("r"), ready: make(chan struct{})}
		c := &checkerProbe{probe: newProbe("c"), err: errors.New("down")}
		g := flex.NewGroup(r, c)
		go g.Run(context.Background())
		<-r.started
		synctest.Wait()
		if isClosed(g.Ready()) {
			t.Error("group ready before its members")
		}
		close(r.ready)
		synctest.Wait()
		if !isClosed(g.Ready()) {
			t.Error("group not ready once its members are")
		}
		if err := g.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "c: down") {
			t.Errorf("Check = %v, want c's error", err)
		}
		if got := g.String(); got != "group(r, c)" {
			t.Errorf("String = %q", got)
		}
		g.Halt(context.Background())
	})
}

func TestGroupValidation(t *testing.T) {
	var typedNil *probe
	if err := flex.NewGroup().Run(context.Background()); !errors.Is(err, flex.ErrNoWorkers) {
		t.Errorf("empty group Run = %v", err)
	}
	if err := flex.NewGroup(typedNil).Run(context.Background()); !errors.Is(err, flex.ErrNilWorker) {
		t.Errorf("nil member Run = %v", err)
	}
	ws := make([]flex.Worker, 7)
	for i := range ws {
		ws[i] = newProbe("w")
	}
	if got := flex.NewGroup(ws...).String(); got != "group(w, w, w, w, w, and 2 more)" {
		t.Errorf("String = %q", got)
	}
}

func TestGroupPanicIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe("a")
		g := flex.NewGroup(a, flex.Named("bad", flex.Func(func(context.Context) error { panic("kaboom") })))
		err := g.Run(context.Background())
		var pe *flex.PanicError
		if !errors.As(err, &pe) || pe.Worker != "bad" || pe.Value != "kaboom" {
			t.Fatalf("Run = %v, want a PanicError from bad", err)
		}
		if err := g.Halt(context.Background()); err != nil {
			t.Errorf("Halt = %v", err)
		}
		if !isClosed(a.done) {
			t.Error("a still running after Halt")
		}
	})
}

// Cancelling a Group's Run context stops every member (Runner's contract:
// Run stops as if halted with an expired deadline), and Run returns only
// once they all have: none is left running, none has its error lost.
func TestGroupRunContextCancelledWaitsForEveryMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errSlow := errors.New("slow cleanup failed")
		fast := newProbe("fast")
		finished := false
		slow := flex.Named("slow", flex.FromRunner(flex.RunFunc(func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(time.Second) // cleaning up
			finished = true
			return errSlow
		})))
		g := flex.NewGroup(fast, slow)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		<-fast.started
		synctest.Wait()
		cancel()
		err := <-done
		if !finished {
			t.Error("Group.Run returned while a member was still running")
		}
		if !errors.Is(err, errSlow) {
			t.Errorf("Run = %v, want the error of the member that failed", err)
		}
		if err := g.Halt(context.Background()); err != nil {
			t.Errorf("Halt after Run = %v, want nil: Run reported every error already", err)
		}
	})
}

// A member that gives up when its Halt context is done, and says it ended
// cleanly, is reported by its own result, not as missing the deadline.
func TestGroupMemberGivingUpAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &givingUp{newProbe("server")}
		group := flex.NewGroup(g, newProbe("other"))
		done := make(chan error, 1)
		go func() { done <- group.Run(context.Background()) }()
		<-g.started
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := group.Halt(ctx); err != nil {
			t.Errorf("Halt = %v, want nil: the member that gave up at its deadline said it ended cleanly", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}
