package flexcron

import "time"

// JobStats is a snapshot of one job's counters and last run, as returned by
// [Scheduler.Stats], for a metrics exporter or an admin page.
type JobStats struct {
	Name string
	Spec string

	Runs     uint64 // runs finished, failed ones included
	Failures uint64 // runs that returned an error, panicked or failed to lock
	Panics   uint64 // runs that panicked, also counted in Failures
	Skipped  uint64 // runs not started because the job was still running
	Delayed  uint64 // runs that waited for the previous run (DelayIfRunning)
	LockHeld uint64 // runs not started because another replica held the lock
	Running  int    // runs in progress now

	LastStart    time.Time     // start of the last finished run; zero before
	LastDuration time.Duration // duration of the last finished run
	LastError    error         // error of the last finished run; nil if it succeeded
	Next         time.Time     // next scheduled run; zero when not running or never due
}

// Stats returns a snapshot of every job's stats, in the order the jobs were
// added. It may be called at any time, concurrently with anything.
func (s *Scheduler) Stats() []JobStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]JobStats, len(s.jobs))
	for i, j := range s.jobs {
		j.mu.Lock()
		out[i] = j.stats
		out[i].Name, out[i].Spec, out[i].Running, out[i].Next = j.name, j.spec, j.running, j.next
		j.mu.Unlock()
	}
	return out
}
