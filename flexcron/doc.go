// Package flexcron runs jobs on cron schedules as a flex.Worker, and stops
// them cleanly.
//
// A [Scheduler] is built with [New]; jobs, functions of a context that
// return an error, are registered with [Scheduler.Add], which validates the
// spec before anything starts. Run it with flex.Start beside the other
// workers of a service. Halt stops scheduling, waits for running jobs until
// its deadline and cancels their contexts shortly before it.
//
// Specs are parsed by github.com/robfig/cron/v3 (5 fields, an optional
// leading seconds field, descriptors such as @daily and @every 30s,
// CRON_TZ= and TZ= prefixes; see [Parse]). flexcron runs the schedules
// itself rather than with robfig/cron's Cron, whose traps it closes: a
// panicking job is recovered, logged with its stack and counted instead of
// killing the process; jobs get a context; Halt is bounded and cancels
// running jobs; [DelayIfRunning] queues at most one run instead of piling
// up goroutines; and a fixed-time job whose time falls into a daylight
// saving gap runs once, as in ISC cron, instead of being skipped.
//
// Each job has an overlap policy ([SkipIfRunning] by default,
// [DelayIfRunning], [AllowOverlap]), can be run on demand with
// [Scheduler.Trigger], and has stats in [Scheduler.Stats]. A [Locker], set
// with [WithLocker], lets one replica at a time run a job; the examples
// module has PostgreSQL and SQLite lockers (examples/dblock).
//
// See the package example for a scheduler started with flex.
package flexcron
