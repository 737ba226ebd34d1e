// Package dblock implements flexcron.Locker on a database shared by the
// replicas of a service, so that each job runs on one replica at a time:
// [Postgres] with a session-level advisory lock, [SQLite] with a lease row.
//
// Both refuse at once, with an error wrapping flexcron.ErrLockHeld, when
// another replica holds the job's lock; the scheduler then skips the run.
package dblock
