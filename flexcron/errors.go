package flexcron

import "errors"

var (
	// ErrHalted is returned by [Scheduler.Add] and [Scheduler.Trigger] once
	// [Scheduler.Halt] has been called: a halted Scheduler starts no runs.
	ErrHalted = errors.New("flexcron: scheduler halted")

	// ErrNotRunning is returned by [Scheduler.Trigger] before
	// [Scheduler.Run] has started. Wait for [Scheduler.Ready] first.
	ErrNotRunning = errors.New("flexcron: scheduler not running")

	// ErrAlreadyRunning is returned by [Scheduler.Run] when the Scheduler is
	// already running. A Scheduler runs once.
	ErrAlreadyRunning = errors.New("flexcron: scheduler already running")

	// ErrUnknownJob is returned, wrapped with the name, by
	// [Scheduler.Trigger] for a name that was never added.
	ErrUnknownJob = errors.New("flexcron: unknown job")

	// ErrJobRunning is returned, wrapped with the name, by
	// [Scheduler.Trigger] when the job's overlap policy refuses the run:
	// the job is still running and its policy is [SkipIfRunning], or its
	// policy is [DelayIfRunning] and a run is already queued.
	ErrJobRunning = errors.New("flexcron: job still running")

	// ErrLockHeld is the error a [Locker] returns, possibly wrapped, when
	// another replica holds the job's lock. The scheduler then skips the
	// run: it is counted in [JobStats].LockHeld and logged at debug level,
	// not reported as a failure.
	ErrLockHeld = errors.New("flexcron: lock held elsewhere")
)
