package flex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"
)

// Service starts workers together and shuts them down gracefully. Build one
// with [New] when you need options or the [Health] handler; otherwise call
// the package-level [Start]. A Service starts once.
type Service struct {
	cfg     config
	cfgErr  error
	health  *Health
	started atomic.Bool
}

// New returns a Service configured by opts, then by the environment
// (FLEX_SHUTDOWN_TIMEOUT, FLEX_SHUTDOWN_DELAY, FLEX_SHUTDOWN_RESERVE), then
// by defaults, all resolved here, once; without [WithLogger] it takes
// slog.Default() here too. A configuration error is returned by Start,
// before any worker runs.
func New(opts ...Option) *Service {
	cfg, err := newConfig(opts)
	return &Service{cfg: cfg, cfgErr: err, health: newHealth(cfg.readiness, cfg.liveness)}
}

// Health returns the Service's liveness and readiness handler, to be mounted
// on an HTTP server (flexhttp and flexmetrics take it as an option).
func (s *Service) Health() *Health { return s.health }

// Start runs every worker in its own goroutine, in the order given, and
// blocks until the service has shut down.
//
// Shutdown begins when ctx is done, when SIGINT or SIGTERM arrives, or when
// any worker's Run returns, with or without an error. Readiness fails at
// once; after FLEX_SHUTDOWN_DELAY the workers are halted one at a time in
// reverse order. After a worker's Halt returns, the context given to its
// Run is cancelled and Start waits for Run to return before halting the
// next worker. Use a [Group] for workers that may halt concurrently.
//
// The workers share FLEX_SHUTDOWN_TIMEOUT, counted from the first Halt, so
// that one slow worker cannot starve the others: each is given a context
// that is not cancelled but whose deadline keeps FLEX_SHUTDOWN_RESERVE
// (by default the timeout divided by twice the number of workers) back for
// every worker still to be halted after it. The last worker halted may use
// the whole of what is left, and time a worker does not use passes to the
// ones after it. When a worker's share ends, it is expected to abandon what
// is left (a server closes its connections) and Start halts the next one
// whether or not its Run has returned. A Halt's context is done a moment
// before its share ends (100ms, or a quarter of the reserve if shorter), so
// that a Halt giving up at its deadline can still return and say how it
// ended. With the defaults, 20s and four
// workers, the first halted may take 20s - 3×2.5s = 12.5s and each later
// one is sure of at least 2.5s.
//
// Start returns once every Run has returned, or when the deadline passes,
// with an error wrapping [ErrShutdownTimeout] that names the workers still
// running. Every Halt is reported, by an event, a log line and its error,
// including those called after the deadline, with the expired context.
// Before it returns, Start logs the shutdown's [Timeline] as one line,
// "flex: shutdown timeline" (a warning when the deadline passed), and
// passes it to observers in the [EventStopped] event.
//
// [EventWorkerStarted] is emitted from the goroutine that calls Run, just
// before the call: a shutdown that begins at that moment may halt the
// worker before its Run has done anything, and a function worker ([Func])
// halted before its Run began never calls its function. A second signal during shutdown makes Start return at once with
// [ErrSecondSignal]. Signals are counted from Start: when shutdown began
// otherwise, the first signal during shutdown is logged and shutdown goes
// on gracefully (with signal.NotifyContext, one SIGTERM both cancels ctx
// and reaches Start).
//
// The error joins every error of Run and Halt, each a [*WorkerError] or a
// [*PanicError], the one that triggered shutdown first. A cancellation that
// Start caused itself is not an error, and a clean shutdown returns nil.
// Invalid configuration, no workers or a nil worker make Start return an
// error before any worker runs.
func (s *Service) Start(ctx context.Context, workers ...Worker) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	if err := validate(workers); err != nil {
		return err
	}
	reserve, err := s.cfg.reserve(len(workers))
	if err != nil {
		return err
	}
	if !s.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	sv := &supervisor{cfg: &s.cfg, health: s.health, log: s.cfg.logger, reserve: reserve}
	return sv.start(ctx, workers)
}

// MustStart calls Start and, when it returns an error, logs it and exits
// the process with status 1.
func (s *Service) MustStart(ctx context.Context, workers ...Worker) {
	if err := s.Start(ctx, workers...); err != nil {
		s.cfg.logger.Error("flex: service failed", "error", err)
		s.cfg.exit(1)
	}
}

// Start runs workers as a [Service] built with the default configuration
// and the environment. See [Service.Start].
func Start(ctx context.Context, workers ...Worker) error {
	return New().Start(ctx, workers...)
}

// MustStart is like [Start] but logs the error and exits with status 1.
func MustStart(ctx context.Context, workers ...Worker) {
	New().MustStart(ctx, workers...)
}

// validate rejects an empty list and nil workers, looking inside groups, so
// that bad input fails before anything runs.
func validate(workers []Worker) error {
	if len(workers) == 0 {
		return ErrNoWorkers
	}
	for i, w := range workers {
		if isNil(w) {
			return fmt.Errorf("%w: worker %d of %d is %T(nil)", ErrNilWorker, i+1, len(workers), w)
		}
		if inner, ok := wrapsNil(w); ok {
			return fmt.Errorf("%w: worker %d of %d (%s) wraps a nil %s", ErrNilWorker, i+1, len(workers), Name(w), inner)
		}
		inner := w
		for n, ok := inner.(*named); ok; n, ok = inner.(*named) {
			inner = n.Worker // a named group is still a group
		}
		if g, ok := inner.(*Group); ok {
			if err := validate(g.workers); err != nil {
				return fmt.Errorf("flex: worker %d of %d, %s: %w", i+1, len(workers), g, err)
			}
		}
	}
	return nil
}

// wrapsNil reports whether w is one of this package's wrappers ([Named],
// [Func], [FromRunner]) around a nil value, which would panic when called,
// and names that value's type.
func wrapsNil(w any) (string, bool) {
	var inner any
	switch v := w.(type) {
	case *named:
		inner = v.Worker
	case *runnerWorker:
		inner = v.r
	default:
		return "", false
	}
	if isNil(inner) {
		if inner == nil {
			return "value", true
		}
		return fmt.Sprintf("%T", inner), true
	}
	return wrapsNil(inner)
}

// supervisor is one run of a Service.
type supervisor struct {
	cfg     *config
	health  *Health
	log     *slog.Logger
	members []*member
	exited  chan *member // each member once, when its Run returns
	sigs    chan os.Signal
	signals int           // signals received so far, read by the Start goroutine only
	reserve time.Duration // of the shutdown timeout, kept back for each worker still to halt
	timer   *time.Timer   // reused to wait for the end of a stopper's share

	// The shutdown's timeline, written by the Start goroutine only.
	reason       string
	triggered    time.Time // shutdown began
	readinessOff time.Time // readiness began to fail
	delayed      time.Duration

	mu      sync.Mutex
	errs    []error
	trigger error
}

func (sv *supervisor) start(ctx context.Context, workers []Worker) error {
	began := time.Now()
	sv.sigs = make(chan os.Signal, 2)
	if len(sv.cfg.signals) > 0 {
		signal.Notify(sv.sigs, sv.cfg.signals...)
		defer signal.Stop(sv.sigs)
	}
	sv.info("flex: starting", slog.Int("workers", len(workers)))
	sv.emit(Event{Kind: EventStarting})

	base := context.WithoutCancel(ctx) // Run outlives ctx until halted
	sv.exited = make(chan *member, len(workers))
	sv.members = make([]*member, len(workers))
	for i, w := range workers {
		sv.members[i] = newMember(base, w)
	}
	sv.health.track(sv.members)
	exit := sv.exit // one method value for all, not one per worker
	for _, m := range sv.members {
		go sv.run(m, exit)
	}

	err := sv.shutdown(ctx, sv.waitForTrigger(ctx))
	var tl *Timeline
	level := slog.LevelInfo
	if errors.Is(err, ErrShutdownTimeout) {
		level = slog.LevelWarn
	}
	if logged := sv.log.Enabled(context.Background(), level); logged || len(sv.cfg.observers) > 0 {
		tl = sv.timeline(err)
		if logged {
			sv.logTimeline(tl, level)
		}
	}
	sv.info("flex: stopped", slog.Duration("duration", time.Since(began)), slog.Any("error", err))
	sv.emit(Event{Kind: EventStopped, Duration: time.Since(began), Err: err, Timeline: tl})
	return err
}

func (sv *supervisor) run(m *member, exit func(*member)) {
	sv.info("flex: worker started", slog.String("worker", m.name))
	sv.emit(Event{Kind: EventWorkerStarted, Worker: m.name})
	if r, ok := m.w.(Readier); ok {
		go sv.watchReady(m, r.Ready())
	}
	m.run(exit)
}

// exit reports a member whose Run has returned, before its done is closed.
func (sv *supervisor) exit(m *member) {
	sv.report(EventWorkerStopped, m, time.Since(m.since), m.err)
	sv.exited <- m
}

// report records, logs and emits the end of a member's Run or Halt.
func (sv *supervisor) report(kind EventKind, m *member, took time.Duration, err error) {
	msg := "flex: worker stopped"
	if kind == EventWorkerHalted {
		msg = "flex: worker halted"
	}
	if kind == EventWorkerHalted {
		m.halted, m.haltTook, m.haltErr = true, took, err
	}
	if err != nil {
		sv.record(err)
		attrs := []slog.Attr{slog.String("worker", m.name), slog.Duration("duration", took), slog.Any("error", err)}
		if pe := panicOf(err); pe != nil {
			attrs = append(attrs, slog.String("stack", string(pe.Stack)))
		}
		sv.log.LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
	} else {
		sv.info(msg, slog.String("worker", m.name), slog.Duration("duration", took))
	}
	sv.emit(Event{Kind: kind, Worker: m.name, Duration: took, Err: err, Panicked: panicOf(err) != nil})
}

// info logs at LevelInfo, at no cost when the level is disabled.
func (sv *supervisor) info(msg string, attrs ...slog.Attr) {
	if sv.log.Enabled(context.Background(), slog.LevelInfo) {
		sv.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
	}
}

// panicOf returns the *PanicError in err's chain, or nil.
func panicOf(err error) *PanicError {
	var panicked *PanicError
	if err == nil || !errors.As(err, &panicked) {
		return nil
	}
	return panicked
}

func (sv *supervisor) watchReady(m *member, ready <-chan struct{}) {
	select {
	case <-ready:
		sv.info("flex: worker ready", slog.String("worker", m.name))
		sv.emit(Event{Kind: EventWorkerReady, Worker: m.name})
	case <-m.done:
	}
}

// waitForTrigger blocks until shutdown must begin and says why.
func (sv *supervisor) waitForTrigger(ctx context.Context) string {
	select {
	case <-ctx.Done():
		return fmt.Sprintf("context done: %v", context.Cause(ctx))
	case sig := <-sv.sigs:
		sv.signals++
		sv.info("flex: signal received", slog.String("signal", sig.String()))
		return "signal " + sig.String()
	case m := <-sv.exited:
		sv.mu.Lock()
		sv.trigger = m.err
		sv.mu.Unlock()
		if m.err != nil {
			return fmt.Sprintf("worker %s failed", m.name)
		}
		return fmt.Sprintf("worker %s stopped", m.name)
	}
}

// shutdown fails readiness, waits out the delay, then halts the workers in
// reverse order under one deadline.
func (sv *supervisor) shutdown(ctx context.Context, reason string) error {
	sv.reason, sv.triggered = reason, time.Now()
	sv.health.shuttingDown.Store(true)
	sv.readinessOff = time.Now()
	delay, timeout := *sv.cfg.shutdownDelay, *sv.cfg.shutdownTimeout
	sv.info("flex: shutting down", slog.String("reason", reason), slog.Duration("delay", delay), slog.Duration("timeout", timeout))
	sv.emit(Event{Kind: EventShutdown, Reason: reason})

	if delay > 0 {
		delayed, cancel := context.WithTimeout(context.Background(), delay)
		defer cancel()
		sig, ok := sv.await(delayed.Done(), nil)
		sv.delayed = time.Since(sv.readinessOff)
		if !ok {
			return sv.abandon(sig)
		}
	}

	haltCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	defer func() {
		if sv.timer != nil {
			sv.timer.Stop()
		}
	}()
	deadline, _ := haltCtx.Deadline()
	for i := len(sv.members) - 1; i >= 0; i-- {
		if haltCtx.Err() != nil {
			sv.haltRemaining(haltCtx, sv.members[:i+1])
			break
		}
		// The i workers halted after this one keep their reserve: this
		// one's share ends that much before the deadline, and its Halt's
		// context a moment before that.
		shareEnd := deadline.Add(-time.Duration(i) * sv.reserve)
		if sig, ok := sv.halt(haltCtx, shareEnd, sv.members[i]); !ok {
			return sv.abandon(sig)
		}
	}
	for _, m := range sv.members {
		m.cancelRun()
	}
	// A worker that outran its share may still return before the deadline.
	for _, m := range sv.members {
		if sig, ok := sv.await(m.done, haltCtx.Done()); !ok {
			return sv.abandon(sig)
		}
	}
	if err := stillRunning(sv.members); err != nil {
		sv.record(err)
	}
	return sv.result()
}

// haltGrace is how long before the end of its share a worker's Halt context
// is done: time for a Halt that gives up at its deadline to return and say
// how it ended, rather than be reported as not returning.
func haltGrace(reserve time.Duration) time.Duration {
	return min(100*time.Millisecond, reserve/4)
}

// halt halts one member and waits for its Halt, then its Run, to return,
// until its share of the shutdown timeout ends at shareEnd. Its Halt gets a
// context derived from parent that ends a grace before that. It returns
// false when a second signal arrives meanwhile.
func (sv *supervisor) halt(parent context.Context, shareEnd time.Time, m *member) (os.Signal, bool) {
	haltEnd := shareEnd.Add(-haltGrace(sv.reserve))
	sv.halting(haltEnd, m)
	began := time.Now()

	var err error
	var shareDone <-chan struct{}
	var expired <-chan time.Time
	if s, ok := m.w.(stopper); ok {
		// Our own workers are only told to stop: no context to build, one
		// timer reused for all of them.
		s.stop()
		expired = sv.timerUntil(shareEnd)
	} else {
		share, cancelShare := context.WithDeadline(parent, shareEnd)
		defer cancelShare()
		ctx, cancel := context.WithDeadline(share, haltEnd)
		defer cancel()
		shareDone = share.Done()
		halted := make(chan error, 1)
		go func() { halted <- m.haltUntil(ctx, share) }()
		var sig os.Signal
		if sig, err = sv.awaitHalt(halted); sig != nil {
			return sig, false
		}
	}
	m.cancelRun() // Halt has returned: whatever Run still waits on can stop
	if sig, ok := sv.awaitUntil(m.done, shareDone, expired); !ok {
		return sig, false
	}
	if _, ok := m.w.(stopper); ok && !m.isDone() {
		// Its share has ended: report it as Halt's.
		err = &WorkerError{Worker: m.name, Op: "halt", Err: fmt.Errorf("run did not return before the deadline: %w", context.DeadlineExceeded)}
	}
	if !m.isDone() {
		sv.log.Warn("flex: worker still running at the end of its share of the shutdown timeout; halting the next",
			"worker", m.name)
	}
	sv.report(EventWorkerHalted, m, time.Since(began), err)
	return nil, true
}

// timerUntil returns a channel that receives at t, from one timer reused
// for every worker (stopped and drained first, so that no earlier tick is
// left in it whatever the Go version's timer semantics).
func (sv *supervisor) timerUntil(t time.Time) <-chan time.Time {
	d := time.Until(t)
	if sv.timer == nil {
		sv.timer = time.NewTimer(d)
		return sv.timer.C
	}
	if !sv.timer.Stop() {
		select {
		case <-sv.timer.C:
		default:
		}
	}
	sv.timer.Reset(d)
	return sv.timer.C
}

// halting logs and emits the start of a member's Halt, with its budget.
func (sv *supervisor) halting(deadline time.Time, m *member) {
	sv.info("flex: halting worker", slog.String("worker", m.name), slog.Duration("budget", time.Until(deadline).Round(time.Millisecond)))
	sv.emit(Event{Kind: EventWorkerHalting, Worker: m.name, Deadline: deadline})
}

// haltRemaining halts the members whose turn came after the deadline with
// the expired context, so that they abandon their work at once, and reports
// each Halt as any other: its event, its duration and its error, which is
// a deadline error when Halt returned none.
func (sv *supervisor) haltRemaining(ctx context.Context, members []*member) {
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		sv.log.Warn("flex: shutdown deadline passed before halting worker", "worker", m.name)
		deadline, _ := ctx.Deadline()
		sv.halting(deadline, m)
		began := time.Now()
		err := m.halt(ctx) // returns at once: ctx is done
		if err == nil {
			// Its Halt may win the race with ctx.Done or not; either way it
			// began after the deadline, and its work was abandoned: one
			// report, whatever the scheduling.
			err = &WorkerError{Worker: m.name, Op: "halt", Err: fmt.Errorf("began after the deadline: %w", ctx.Err())}
		}
		m.cancelRun()
		sv.report(EventWorkerHalted, m, time.Since(began), err)
	}
}

// await blocks until a or b (which may be nil) is closed, and returns true.
// See awaitUntil.
func (sv *supervisor) await(a, b <-chan struct{}) (os.Signal, bool) {
	return sv.awaitUntil(a, b, nil)
}

// awaitUntil blocks until a or b is closed or t receives (any may be nil),
// and returns true.
// A signal arriving meanwhile is logged; the second signal the service
// receives makes await return false at once with that signal. (The first
// signal may arrive during shutdown, when shutdown began otherwise: with
// signal.NotifyContext, one SIGTERM both cancels ctx and reaches sigs.)
func (sv *supervisor) awaitUntil(a, b <-chan struct{}, t <-chan time.Time) (os.Signal, bool) {
	for {
		select {
		case <-a:
			return nil, true
		case <-b:
			return nil, true
		case <-t:
			return nil, true
		case sig := <-sv.sigs:
			if sv.signalled(sig) {
				return sig, false
			}
		}
	}
}

// signalled counts a signal received during shutdown and reports whether it
// is the second, which abandons the graceful path; the first is logged.
func (sv *supervisor) signalled(sig os.Signal) bool {
	if sv.signals++; sv.signals > 1 {
		return true
	}
	sv.info("flex: signal received", slog.String("signal", sig.String()))
	return false
}

// awaitHalt is await for a Halt's result; it returns the second signal
// instead if one arrives first. (A channel rather than a variable shared
// with the halting goroutine, which would escape for every worker.)
func (sv *supervisor) awaitHalt(halted <-chan error) (os.Signal, error) {
	for {
		select {
		case err := <-halted:
			return nil, err
		case sig := <-sv.sigs:
			if sv.signalled(sig) {
				return sig, nil
			}
		}
	}
}

// abandon ends the graceful path after a second signal.
func (sv *supervisor) abandon(sig os.Signal) error {
	sv.log.Error("flex: second signal received, abandoning graceful shutdown", "signal", sig.String())
	for _, m := range sv.members {
		m.cancelRun()
	}
	sv.mu.Lock()
	sv.errs = append([]error{fmt.Errorf("%w (%v)", ErrSecondSignal, sig)}, sv.errs...)
	sv.mu.Unlock()
	return sv.result()
}

func (sv *supervisor) record(err error) {
	sv.mu.Lock()
	sv.errs = append(sv.errs, err)
	sv.mu.Unlock()
}

// result joins the recorded errors, the one that triggered shutdown first.
func (sv *supervisor) result() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	errs := make([]error, 0, len(sv.errs))
	if sv.trigger != nil {
		errs = append(errs, sv.trigger)
	}
	for _, err := range sv.errs {
		if err != sv.trigger {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (sv *supervisor) emit(e Event) {
	if len(sv.cfg.observers) == 0 {
		return
	}
	e.Time = time.Now()
	for _, o := range sv.cfg.observers {
		o.Observe(e)
	}
}
