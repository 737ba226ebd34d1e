package flexcron_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/go-flexible/flexible/flexcron"
)

// memLocker is an in-process lock table shared by schedulers standing in
// for replicas; examples/dblock has the PostgreSQL and SQLite ones.
type memLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

func (m *memLocker) Lock(_ context.Context, job string) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held[job] {
		return nil, fmt.Errorf("job %q: %w", job, flexcron.ErrLockHeld)
	}
	m.held[job] = true
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.held, job)
	}, nil
}

func TestLockOneReplicaAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		locker := &memLocker{held: map[string]bool{}}
		release := make(chan struct{})
		var runsA, runsB atomic.Int32
		a := newScheduler(t, flexcron.WithLocker(locker))
		b := newScheduler(t, flexcron.WithLocker(locker))
		add(t, a, "report", never, func(context.Context) error { runsA.Add(1); <-release; return nil })
		add(t, b, "report", never, func(context.Context) error { runsB.Add(1); return nil })
		doneA, doneB := start(t, a), start(t, b)

		if err := a.Trigger("report"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := b.Trigger("report"); err != nil {
			t.Fatalf("Trigger on b = %v, want nil: a held lock skips the run, it is no error", err)
		}
		synctest.Wait()
		if st := stats(t, b, "report"); runsB.Load() != 0 || st.LockHeld != 1 || st.Runs != 0 || st.Failures != 0 {
			t.Errorf("b while a holds the lock: runs = %d, stats = %+v; want the run skipped and counted in LockHeld", runsB.Load(), st)
		}

		close(release)
		synctest.Wait()
		if err := b.Trigger("report"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if runsB.Load() != 1 {
			t.Errorf("b runs after a released the lock = %d, want 1", runsB.Load())
		}
		stop(t, a, doneA)
		stop(t, b, doneB)
	})
}

func TestLockErrors(t *testing.T) {
	tests := []struct {
		name   string
		locker flexcron.LockerFunc
		want   string
		panics uint64
	}{
		{"error", func(context.Context, string) (func(), error) { return nil, errors.New("db down") },
			`flexcron: job "j": lock: db down`, 0},
		{"panic", func(context.Context, string) (func(), error) { panic("driver bug") },
			`flex: cron(j) job "j" panicked: driver bug`, 1},
		{"unlock panic", func(context.Context, string) (func(), error) { return func() { panic("unlock bug") }, nil },
			`flex: cron(j) job "j" panicked: unlock bug`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScheduler(t, flexcron.WithLocker(tt.locker))
				var calls atomic.Int32
				add(t, s, "j", never, func(context.Context) error { calls.Add(1); return nil })
				done := start(t, s)
				if err := s.Trigger("j"); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				stop(t, s, done)
				st := stats(t, s, "j")
				if st.Failures != 1 || st.Panics != tt.panics || st.LastError == nil || !strings.HasPrefix(st.LastError.Error(), tt.want) {
					t.Errorf("stats = %+v, want 1 failure, %d panics, error %q", st, tt.panics, tt.want)
				}
				if tt.name != "unlock panic" && calls.Load() != 0 {
					t.Errorf("job ran %d times although the lock failed", calls.Load())
				}
			})
		})
	}
}
