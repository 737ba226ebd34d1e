package flex

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Group is a [Worker] made of independent workers that run together and
// halt concurrently, for parts of a service that do not depend on each other
// (two consumers, a scheduler and a cache warmer). Give [Start] a Group
// where ordered halting is not needed; groups nest.
//
// The Group is ready when every member is, and its Check runs every member's
// [Checker]. A Group runs once.
type Group struct {
	workers []Worker

	ready  chan struct{} // closed when every member is ready
	halted chan struct{} // closed by the first Halt

	returned atomic.Pointer[member] // the member whose error Run returns

	mu      sync.Mutex
	ran     bool
	members []*member // set by Run
}

// NewGroup returns a Group of workers. Nil workers are reported by Run and
// by [Start] before anything runs.
func NewGroup(workers ...Worker) *Group {
	return &Group{
		workers: workers,
		halted:  make(chan struct{}),
		ready:   make(chan struct{}),
	}
}

// Run runs every member concurrently, each in its own goroutine, recovering
// panics. It returns when the first member's Run returns, with that member's
// error (the others keep running until Halt), or after Halt, once every
// member has returned. When ctx is cancelled, every member's Run context is
// cancelled, and Run returns once every member has returned, with the
// errors of their Runs that Halt has not returned, joined. Run after Halt
// returns nil at once; a second Run returns nil at once.
func (g *Group) Run(ctx context.Context) error {
	if err := validate(g.workers); err != nil {
		return err
	}
	// Stoppers get a context that the members' exits do not contend on;
	// they are stopped directly when ctx is cancelled.
	detached := context.WithoutCancel(ctx)
	members := make([]*member, len(g.workers))
	var stoppers []stopper
	for i, w := range g.workers {
		if s, ok := w.(stopper); ok {
			members[i] = newMember(detached, w)
			stoppers = append(stoppers, s)
		} else {
			members[i] = newMember(ctx, w)
		}
	}
	g.mu.Lock()
	if g.ran || isClosed(g.halted) {
		g.mu.Unlock()
		return nil
	}
	g.ran, g.members = true, members
	g.mu.Unlock()
	if len(stoppers) > 0 {
		context.AfterFunc(ctx, func() {
			for _, s := range stoppers {
				s.stop()
			}
		})
	}

	first := make(chan *member, 1)
	exited := func(m *member) {
		// The first member to return unasked is reported by Run, the
		// others by Halt, or by Run when ctx is cancelled.
		if !isClosed(g.halted) && ctx.Err() == nil && g.returned.CompareAndSwap(nil, m) {
			m.claimed.Store(true)
			first <- m
		}
	}
	var exits sync.WaitGroup
	exits.Add(len(members))
	for _, m := range members {
		go func() {
			defer exits.Done()
			m.run(exited)
		}()
	}
	go g.watchReady(members)

	select {
	case m := <-first:
		return m.err
	case <-g.halted:
		exits.Wait()
		if m := g.returned.Load(); m != nil {
			return m.err
		}
		return nil
	case <-ctx.Done():
		// Every member's context is cancelled (or it is stopped): wait
		// for them all, as for a Halt, and report what no Halt has.
		exits.Wait()
		var errs []error
		if m := g.returned.Load(); m != nil {
			errs = append(errs, m.err)
		}
		return errors.Join(append(errs, claimErrors(members)...)...)
	}
}

// claimErrors returns the Run errors of the members that have returned and
// whose error no Run or Halt of the Group has returned yet, so that each
// error is reported once.
func claimErrors(members []*member) []error {
	var errs []error
	for _, m := range members {
		if m.isDone() && m.err != nil && m.claimed.CompareAndSwap(false, true) {
			errs = append(errs, m.err)
		}
	}
	return errs
}

func (g *Group) watchReady(members []*member) {
	for _, m := range members {
		if r, ok := m.w.(Readier); ok {
			select {
			case <-r.Ready():
			case <-m.done:
				return
			}
		}
	}
	close(g.ready)
}

// Halt halts every member concurrently and waits, until ctx is done, for
// their Halt and Run to return. It returns the members' Halt errors and the
// errors of their Runs that Run has not returned, joined (each Run error is
// returned once, by Run or by one Halt), and, if ctx is done first,
// an error wrapping [ErrShutdownTimeout] naming the members still running.
// Each member's Halt gets a context that ends a moment before ctx (100ms,
// or a quarter of the time left if that is shorter), so that a member
// giving up at its deadline can still report how it ended.
// Halt is safe before Run, without Run, concurrently and more than once.
func (g *Group) Halt(ctx context.Context) error {
	g.mu.Lock()
	if !isClosed(g.halted) {
		close(g.halted) // a Run that has not started never will
	}
	members := g.members
	g.mu.Unlock()

	// As Start does for its workers: the members' Halt context ends a
	// moment before ctx, so that a member giving up at its deadline can
	// still return and say how it ended.
	mctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		mctx, cancel = context.WithDeadline(ctx, deadline.Add(-haltGrace(time.Until(deadline))))
		defer cancel()
	}
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if s, ok := m.w.(stopper); ok {
			s.stop() // returns at once: no goroutine needed
			m.cancelRun()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.haltUntil(mctx, ctx)
			m.cancelRun()
		}()
	}
	for _, m := range members {
		select {
		case <-m.done:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	errs = append(errs, claimErrors(members)...)
	return errors.Join(append(errs, stillRunning(members))...)
}

// Ready returns a channel closed once every member is ready.
func (g *Group) Ready() <-chan struct{} { return g.ready }

// Check runs the Check of every member that is a [Checker], in turn, and
// joins their errors.
func (g *Group) Check(ctx context.Context) error {
	var errs []error
	for _, w := range g.workers {
		if c, ok := w.(Checker); ok {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", Name(w), err))
			}
		}
	}
	return errors.Join(errs...)
}

// String names the group after its first members: "group(http, kafka)".
func (g *Group) String() string {
	const most = 5
	names := make([]string, 0, most)
	for i, w := range g.workers {
		if i == most {
			names = append(names, fmt.Sprintf("and %d more", len(g.workers)-most))
			break
		}
		names = append(names, Name(w))
	}
	return "group(" + strings.Join(names, ", ") + ")"
}
