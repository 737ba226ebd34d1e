package flexcron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// JobOption configures one job, given to [Scheduler.Add].
type JobOption func(*job)

type overlap int

const (
	skipIfRunning overlap = iota
	delayIfRunning
	allowOverlap
)

// SkipIfRunning makes a run that comes due while the previous run of the
// same job is still going be skipped, logged and counted in
// [JobStats].Skipped. It is the default: overlapping runs of one job
// surprise people.
func SkipIfRunning() JobOption { return func(j *job) { j.overlap = skipIfRunning } }

// DelayIfRunning makes a run that comes due while the previous run is still
// going wait for it and start as soon as it returns. At most one run waits:
// further runs that come due meanwhile are skipped, so a slow job never
// piles up waiting runs (robfig/cron's DelayIfStillRunning piles up one
// blocked goroutine per missed run). A waiting run is dropped when the
// scheduler halts.
func DelayIfRunning() JobOption { return func(j *job) { j.overlap = delayIfRunning } }

// AllowOverlap lets runs of the same job overlap.
func AllowOverlap() JobOption { return func(j *job) { j.overlap = allowOverlap } }

// Timeout bounds each run of the job: its context is cancelled after d.
// Zero, the default, means no bound other than the scheduler's halt.
func Timeout(d time.Duration) JobOption { return func(j *job) { j.timeout = d } }

// job is a registered job and its state.
type job struct {
	name    string
	spec    string
	sched   Schedule
	fn      func(ctx context.Context) error
	overlap overlap
	timeout time.Duration

	mu            sync.Mutex // guards the fields below
	running       int        // runs in progress, including one waiting for its lock
	pending       bool       // a delayed run waits for the running one
	pendingFor    time.Time  // the scheduled time of the waiting run
	pendingManual bool       // the waiting run was triggered
	next          time.Time
	stats         JobStats
}

type runKey struct{}

type runInfo struct {
	name      string
	scheduled time.Time
}

// ScheduledTime returns the time at which the run whose context is ctx was
// due, and false when ctx is not a run's. A run started by
// [Scheduler.Trigger] was due when it was triggered; a run delayed by
// [DelayIfRunning] keeps the time it was due. Use it to name the period a
// run covers, which stays right when the run starts late.
func ScheduledTime(ctx context.Context) (time.Time, bool) {
	ri, ok := ctx.Value(runKey{}).(*runInfo)
	if !ok {
		return time.Time{}, false
	}
	return ri.scheduled, true
}

// JobName returns the name of the job whose run has context ctx, or "".
func JobName(ctx context.Context) string {
	ri, _ := ctx.Value(runKey{}).(*runInfo)
	if ri == nil {
		return ""
	}
	return ri.name
}

// outcome of one run attempt.
type outcome int

const (
	ran outcome = iota
	lockHeld
)

// attempt takes the lock, runs the job and releases the lock, recovering
// any panic on the way.
func (s *Scheduler) attempt(ctx context.Context, j *job) (res outcome, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = ran, s.panicError(j.name, v)
		}
	}()
	if s.cfg.locker != nil {
		unlock, err := s.cfg.locker.Lock(ctx, j.name)
		if errors.Is(err, ErrLockHeld) {
			return lockHeld, nil
		}
		if err != nil {
			return ran, fmt.Errorf("flexcron: job %q: lock: %w", j.name, err)
		}
		if unlock != nil {
			defer unlock()
		}
	}
	return ran, j.fn(ctx)
}

// runOnce runs j once for the time it was scheduled, updating its stats.
func (s *Scheduler) runOnce(j *job, scheduled time.Time, manual bool) {
	ctx := context.WithValue(s.jobsCtx, runKey{}, &runInfo{name: j.name, scheduled: scheduled})
	if j.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.timeout)
		defer cancel()
	}
	start := time.Now()
	res, err := s.attempt(ctx, j)
	dur := time.Since(start)

	log := s.cfg.logger
	attrs := []any{"job", j.name, "scheduled", scheduled}
	if manual {
		attrs = append(attrs, "trigger", true)
	}
	j.mu.Lock()
	st := &j.stats
	if res == lockHeld {
		st.LockHeld++
		j.mu.Unlock()
		log.Debug("flexcron: run skipped: lock held elsewhere", attrs...)
		return
	}
	st.Runs++
	st.LastStart, st.LastDuration, st.LastError = start, dur, err
	pe := asPanic(err)
	panicked := pe != nil
	if err != nil {
		st.Failures++
	}
	if panicked {
		st.Panics++
	}
	j.mu.Unlock()

	attrs = append(attrs, "duration", dur)
	switch {
	case panicked:
		log.Error("flexcron: job panicked", append(attrs, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))...)
	case err != nil:
		log.Error("flexcron: job failed", append(attrs, "error", err)...)
	default:
		log.Info("flexcron: job done", attrs...)
	}
}
