package flexcron

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheduler is a [flex.Worker] that runs jobs on cron schedules. Build it
// with [New], register jobs with [Scheduler.Add], then run it with
// flex.Start or [Scheduler.Run].
//
// Every run gets a context that carries the values of the context given to
// Run; it is cancelled when Halt's deadline is near or Run's context is
// cancelled, and by the job's [Timeout]. Runs are recovered from panics,
// logged with log/slog, counted in [Scheduler.Stats] and governed by the
// job's overlap policy ([SkipIfRunning] by default).
//
// A Scheduler runs once: after Halt it cannot be started again. All its
// methods may be called concurrently.
//
// [flex.Worker]: https://pkg.go.dev/github.com/go-flexible/flexible/flex#Worker
type Scheduler struct {
	cfg config

	mu         sync.RWMutex // guards the fields below; taken before a job's mu
	jobs       []*job
	byName     map[string]*job
	state      state
	jobsCtx    context.Context // parent of every run's context, set by Run
	cancelJobs context.CancelFunc

	runs  sync.WaitGroup // runs in progress; no Add once halted
	loops sync.WaitGroup // one scheduling loop per job

	ready      chan struct{} // closed when Run has started the loops
	stop       chan struct{} // closed by the first Halt
	idle       chan struct{} // closed when halted and no run is left
	finished   chan struct{} // closed when Run may return
	haltOnce   sync.Once
	finishOnce sync.Once
}

type state int

const (
	stateNew state = iota
	stateRunning
	stateHalted
)

// New returns a Scheduler configured by opts, then by the environment
// (FLEX_CRON_TZ), then by defaults. It returns an error naming the bad
// setting when the configuration is invalid.
func New(opts ...Option) (*Scheduler, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Scheduler{
		cfg:      cfg,
		byName:   make(map[string]*job),
		ready:    make(chan struct{}),
		stop:     make(chan struct{}),
		idle:     make(chan struct{}),
		finished: make(chan struct{}),
	}, nil
}

// Add registers the job fn under name, to run on spec (see [Parse] for the
// syntax, daylight saving time and time zones). Names must be unique and
// non-empty; they appear in logs, stats and the [Locker].
//
// Add validates everything before the job is registered and returns an
// error naming the job and the spec, such as
//
//	flexcron: job "report": invalid spec "* * *": expected 5 to 6 fields, found 3: [* * *]
//
// Jobs may be added before Run, or while the Scheduler runs (the job is
// scheduled at once); Add returns [ErrHalted] after Halt.
func (s *Scheduler) Add(name, spec string, fn func(ctx context.Context) error, opts ...JobOption) error {
	if name == "" {
		return fmt.Errorf("flexcron: job with spec %q: empty name", spec)
	}
	if fn == nil {
		return fmt.Errorf("flexcron: job %q: nil func", name)
	}
	sched, err := Parse(spec, s.cfg.location)
	if err != nil {
		return fmt.Errorf("flexcron: job %q: invalid spec %q: %w", name, spec, err)
	}
	j := &job{name: name, spec: spec, sched: sched, fn: fn}
	for _, opt := range opts {
		if opt != nil {
			opt(j)
		}
	}
	if j.timeout < 0 {
		return fmt.Errorf("flexcron: job %q: invalid Timeout %v: must not be negative", name, j.timeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateHalted {
		return fmt.Errorf("flexcron: job %q: %w", name, ErrHalted)
	}
	if _, dup := s.byName[name]; dup {
		return fmt.Errorf("flexcron: job %q: already added", name)
	}
	s.jobs = append(s.jobs, j)
	s.byName[name] = j
	if s.state == stateRunning {
		s.startLoop(j)
	}
	return nil
}

// Run starts scheduling the jobs and blocks until the Scheduler is halted
// and its runs are over, then returns nil.
//
// A Run after Halt returns nil at once, and a second Run while the first
// one runs returns [ErrAlreadyRunning]. When ctx is cancelled, Run stops
// scheduling, cancels the contexts of running jobs and returns nil without
// waiting for them; [Scheduler.Halt] is the graceful path.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case stateHalted:
		s.mu.Unlock()
		return nil
	case stateRunning:
		s.mu.Unlock()
		return ErrAlreadyRunning
	}
	s.state = stateRunning
	s.jobsCtx, s.cancelJobs = context.WithCancel(context.WithoutCancel(ctx))
	for _, j := range s.jobs {
		s.startLoop(j)
	}
	n := len(s.jobs)
	s.mu.Unlock()
	close(s.ready)
	s.cfg.logger.Info("flexcron: scheduler started", "jobs", n)

	select {
	case <-s.finished:
	case <-ctx.Done():
		s.halt()
		s.cancelRuns()
		s.finish()
	}
	s.loops.Wait()
	s.cancelRuns() // releases the context's resources
	return nil
}

// Ready returns a channel that is closed once Run has started scheduling,
// from which point [Scheduler.Trigger] accepts runs. It implements
// flex.Readier.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// Halt stops scheduling new runs, drops runs waiting behind a running one,
// and waits for the running jobs to return, then makes Run return nil.
//
// When ctx has a deadline, the contexts of jobs still running are cancelled
// shortly before it (see [WithHaltMargin]), so that a long job can stop at
// a safe point. When ctx is done before the jobs have returned, Halt
// cancels their contexts, lets Run return and returns an error that names
// the jobs still running and wraps ctx.Err(); those goroutines are
// abandoned. Without a deadline, Halt waits for the jobs as long as they
// take.
//
// Halt may be called before Run, without Run, concurrently and more than
// once; every call waits as described. A halted Scheduler cannot be run
// again: build a new one.
func (s *Scheduler) Halt(ctx context.Context) error {
	s.halt()
	var cancelAt <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		timer := time.NewTimer(left - min(*s.cfg.haltMargin, left/2))
		defer timer.Stop()
		cancelAt = timer.C
	}
	select {
	case <-s.idle:
		return nil
	case <-cancelAt:
		s.cfg.logger.Warn("flexcron: halt deadline near, cancelling running jobs", "jobs", s.running())
		s.cancelRuns()
		select {
		case <-s.idle:
			return nil
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	s.cancelRuns()
	names := s.running()
	s.finish()
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("flexcron: halt: jobs still running: %s: %w", strings.Join(names, ", "), ctx.Err())
}

// halt stops scheduling. After it, no run starts.
func (s *Scheduler) halt() {
	s.mu.Lock()
	s.state = stateHalted
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.pending {
			j.pending = false
			j.stats.Skipped++
		}
		j.next = time.Time{}
		j.mu.Unlock()
	}
	s.mu.Unlock()
	s.haltOnce.Do(func() {
		close(s.stop)
		go func() {
			s.runs.Wait()
			close(s.idle)
			s.finish()
		}()
	})
}

func (s *Scheduler) finish() { s.finishOnce.Do(func() { close(s.finished) }) }

func (s *Scheduler) cancelRuns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelJobs != nil {
		s.cancelJobs()
	}
}

// running returns the quoted names of the jobs with runs in progress.
func (s *Scheduler) running() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var names []string
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.running > 0 {
			names = append(names, strconv.Quote(j.name))
		}
		j.mu.Unlock()
	}
	slices.Sort(names)
	return names
}

// Trigger runs the job called name now, in its own goroutine, as if it were
// due, respecting its overlap policy and the [Locker]. It returns without
// waiting for the run: nil when the run started or was queued behind a
// running one ([DelayIfRunning]); an error wrapping [ErrJobRunning] when
// the policy refused it; [ErrUnknownJob], [ErrNotRunning] before Run or
// [ErrHalted] after Halt. Use it for tests and admin endpoints.
func (s *Scheduler) Trigger(name string) error {
	s.mu.RLock()
	j := s.byName[name]
	s.mu.RUnlock()
	if j == nil {
		return fmt.Errorf("flexcron: trigger %q: %w", name, ErrUnknownJob)
	}
	if err := s.dispatch(j, time.Now(), true); err != nil {
		return fmt.Errorf("flexcron: trigger %q: %w", name, err)
	}
	return nil
}

// String names the Scheduler in flex's logs, errors, events and health
// checks ("worker:cron(billing)"): "cron(name)" with [WithName], else
// "cron(" and the names of its jobs so far, in the order added, then ")",
// as "cron(expire,reconcile)". Two Schedulers of one service are told
// apart by their jobs, whose names they use for their locks too; flex
// reads the name when the service starts.
func (s *Scheduler) String() string {
	if s.cfg.name != "" {
		return "cron(" + s.cfg.name + ")"
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, len(s.jobs))
	for i, j := range s.jobs {
		names[i] = j.name
	}
	return "cron(" + strings.Join(names, ",") + ")"
}

// startLoop starts j's scheduling loop. s.mu must be held.
func (s *Scheduler) startLoop(j *job) {
	s.loops.Add(1)
	go s.loop(j)
}

// loop waits for each time j is due and dispatches a run. It computes the
// next time from the clock after each run is dispatched, so a late wake-up
// (a stalled process) runs once, not once per missed time.
func (s *Scheduler) loop(j *job) {
	defer s.loops.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	now := time.Now()
	for {
		next := j.sched.Next(now)
		if next.IsZero() {
			s.cfg.logger.Warn("flexcron: job will never run again", "job", j.name, "spec", j.spec)
			return
		}
		s.mu.RLock()
		if s.state != stateRunning {
			s.mu.RUnlock()
			return
		}
		j.mu.Lock()
		j.next = next
		j.mu.Unlock()
		s.mu.RUnlock()
		timer.Reset(time.Until(next))
		select {
		case <-s.stop:
			return
		case <-timer.C:
		}
		_ = s.dispatch(j, next, false)
		now = time.Now()
		if now.Before(next) { // the wall clock went back: don't run next twice
			now = next
		}
	}
}

// dispatch starts a run of j due at scheduled, or queues or skips it as the
// job's overlap policy says. The read lock on s.mu keeps halt from
// completing in between, so no run starts after halt.
func (s *Scheduler) dispatch(j *job, scheduled time.Time, manual bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch s.state {
	case stateNew:
		return ErrNotRunning
	case stateHalted:
		return ErrHalted
	}
	j.mu.Lock()
	if j.running > 0 && j.overlap != allowOverlap {
		if j.overlap == delayIfRunning && !j.pending {
			j.pending, j.pendingFor, j.pendingManual = true, scheduled, manual
			j.stats.Delayed++
			j.mu.Unlock()
			s.cfg.logger.Info("flexcron: run delayed: job still running", "job", j.name, "scheduled", scheduled)
			return nil
		}
		j.stats.Skipped++
		j.mu.Unlock()
		s.cfg.logger.Warn("flexcron: run skipped: job still running", "job", j.name, "scheduled", scheduled)
		return ErrJobRunning
	}
	j.running++
	j.mu.Unlock()
	s.runs.Add(1)
	go s.execute(j, scheduled, manual)
	return nil
}

// execute runs j, then the run queued behind it, if any.
func (s *Scheduler) execute(j *job, scheduled time.Time, manual bool) {
	defer s.runs.Done()
	for {
		s.runOnce(j, scheduled, manual)
		s.mu.RLock()
		j.mu.Lock()
		if !j.pending || s.state != stateRunning {
			j.running--
			j.mu.Unlock()
			s.mu.RUnlock()
			return
		}
		j.pending = false
		scheduled, manual = j.pendingFor, j.pendingManual
		j.mu.Unlock()
		s.mu.RUnlock()
	}
}
