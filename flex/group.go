package flex

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

	mu       sync.Mutex
	ran      bool
	members  []*member // set by Run
	returned *member   // the member whose error Run returned
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
// member has returned. Run after Halt returns nil at once; a second Run
// returns nil at once.
func (g *Group) Run(ctx context.Context) error {
	if err := validate(g.workers); err != nil {
		return err
	}
	members := make([]*member, len(g.workers))
	exited := make(chan *member, len(g.workers))
	for i, w := range g.workers {
		members[i] = newMember(ctx, w)
	}
	g.mu.Lock()
	if g.ran || isClosed(g.halted) {
		g.mu.Unlock()
		return nil
	}
	g.ran, g.members = true, members
	g.mu.Unlock()
	for _, m := range members {
		go func() {
			m.run()
			g.mu.Lock()
			if g.returned == nil && !isClosed(g.halted) {
				g.returned = m // the first to return unasked: Run reports it
			}
			g.mu.Unlock()
			exited <- m
		}()
	}
	go g.watchReady(members)

	waiting := len(members)
	select {
	case m := <-exited:
		waiting--
		g.mu.Lock()
		returned := g.returned
		g.mu.Unlock()
		if m == returned {
			return m.err
		}
	case <-g.halted:
	}
	for ; waiting > 0; waiting-- {
		<-exited // halted: Halt reports their errors
	}
	return nil
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
// errors of Runs that returned meanwhile, joined, and, if ctx is done first,
// an error wrapping [ErrShutdownTimeout] naming the members still running.
// Halt is safe before Run, without Run, concurrently and more than once.
func (g *Group) Halt(ctx context.Context) error {
	g.mu.Lock()
	if !isClosed(g.halted) {
		close(g.halted) // a Run that has not started never will
	}
	members := g.members
	g.mu.Unlock()

	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.halt(ctx)
			m.cancel()
			select {
			case <-m.done:
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	g.mu.Lock()
	returned := g.returned
	g.mu.Unlock()
	for _, m := range members {
		if m != returned && m.isDone() && m.err != nil {
			errs = append(errs, m.err)
		}
	}
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
