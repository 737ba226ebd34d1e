package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flexcron"
)

// jobRunsRetention is how long the ticks claimed by cron jobs are kept in
// job_runs, for inspection.
const jobRunsRetention = 24 * time.Hour

// replicaName names this process in job_runs: host and process ID.
var replicaName = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}()

// oncePerTick returns fn, the body of the cron job called job on spec,
// made to run once per tick across replicas. Every replica runs the same
// scheduler, so each tick comes due on each of them; the lock (dblock)
// only keeps two runs from overlapping, and a replica whose tick comes a
// moment after another's run has ended would run the job again. So before
// fn, a run claims its tick in job_runs (see claimTick), and skips the
// body when another replica has claimed it.
//
// The tick is the time the run was scheduled for (flexcron.ScheduledTime),
// which is the same on every replica for a cron spec ("*/5 * * * *"). An
// "@every d" schedule counts from each replica's start, so there the tick
// is the period of d since the epoch that the time falls in: one run per
// period across replicas.
//
// A run that flexcron.Scheduler.Trigger started (an operator's "run now";
// its scheduled time, unlike a tick's, is not a whole second) and a direct
// call outside a scheduler run fn without claiming anything.
//
// The claim is taken before fn runs, in its own statement: a run that
// fails or is cut short leaves its tick claimed, and the next tick does
// the work. Cron jobs here are idempotent catch-up passes, so at most once
// per tick is the right promise.
func (s *store) oncePerTick(job, spec string, log *slog.Logger, fn func(context.Context) error) func(context.Context) error {
	period := everyPeriod(spec)
	return func(ctx context.Context) error {
		scheduled, ok := flexcron.ScheduledTime(ctx)
		if !ok || scheduled.Nanosecond() != 0 { // not a tick: a trigger or a direct call
			return fn(ctx)
		}
		tick := tickOf(scheduled, period)
		claimed, err := s.claimTick(ctx, job, tick)
		if err != nil {
			return err
		}
		if !claimed {
			log.Debug("orders: cron tick already run by another replica", "job", job, "tick", tick)
			return nil
		}
		return fn(ctx)
	}
}

// tickOf returns the tick of a run scheduled at scheduled: that time, or
// for an @every schedule of period, the start of the period it falls in,
// counted from the Unix epoch.
func tickOf(scheduled time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return scheduled
	}
	return time.UnixMilli(scheduled.UnixMilli() - scheduled.UnixMilli()%period.Milliseconds())
}

// everyPeriod returns d for an "@every d" spec, else 0.
func everyPeriod(spec string) time.Duration {
	rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every ")
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(rest))
	if err != nil {
		return 0
	}
	return d
}

// claimTick records that this replica runs job for tick, and reports
// whether it got there first: the INSERT … ON CONFLICT DO NOTHING on the
// primary key (job, tick) succeeds for one replica only, whatever the
// race (PostgreSQL makes a concurrent insert of the same key wait for the
// first; SQLite writes one at a time). It also forgets the job's ticks
// older than jobRunsRetention.
func (s *store) claimTick(ctx context.Context, job string, tick time.Time) (bool, error) {
	now := time.Now()
	res, err := s.exec(ctx, `INSERT INTO job_runs (job, tick, replica, claimed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job, tick) DO NOTHING`, job, tick.UnixMilli(), replicaName, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("orders: claim the tick %s of job %q: %w", tick.Format(time.RFC3339), job, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if _, err := s.exec(ctx, `DELETE FROM job_runs WHERE job = $1 AND tick < $2`,
		job, now.Add(-jobRunsRetention).UnixMilli()); err != nil {
		return true, fmt.Errorf("orders: forget the old ticks of job %q: %w", job, err)
	}
	return true, nil
}
