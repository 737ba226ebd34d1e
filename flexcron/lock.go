package flexcron

import "context"

// Locker lets one replica of a service at a time run a job, when several
// replicas run the same schedule. Set it with [WithLocker].
//
// Lock is called before each run with the run's context and the job's name.
// It returns at once, without waiting for the lock: when another replica
// holds the lock it returns an error wrapping [ErrLockHeld] and the run is
// skipped; any other error makes the run a failure. When it returns a nil
// error, the scheduler calls unlock exactly once after the job has
// returned; unlock may be nil.
//
// Lock may be called concurrently for different jobs, and for the same job
// when its overlap policy is [AllowOverlap].
type Locker interface {
	Lock(ctx context.Context, job string) (unlock func(), err error)
}

// LockerFunc is an adapter that lets an ordinary function be a [Locker].
type LockerFunc func(ctx context.Context, job string) (unlock func(), err error)

// Lock calls f(ctx, job).
func (f LockerFunc) Lock(ctx context.Context, job string) (func(), error) { return f(ctx, job) }
