package flex

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Timeline says where the time of one shutdown went, so that an operator
// sees which phase used the grace period. Start logs it as one line,
// "flex: shutdown timeline", when it returns, and passes it to observers
// in the [EventStopped] event.
type Timeline struct {
	Reason       string        // why shutdown began, as in [EventShutdown]
	ReadinessOff time.Duration // from the trigger until readiness failed
	Delay        time.Duration // spent waiting out FLEX_SHUTDOWN_DELAY (shorter when a second signal cut it)
	Halts        []HaltTiming  // each worker halted, in the order halted
	Total        time.Duration // from the trigger until Start returned
	// DeadlineExceeded reports that FLEX_SHUTDOWN_TIMEOUT passed with a
	// worker still running: Start's error wraps [ErrShutdownTimeout].
	DeadlineExceeded bool
}

// HaltTiming is one worker's part of a [Timeline]: how long from its Halt
// until its Run returned or its share of the shutdown timeout ended.
type HaltTiming struct {
	Worker   string
	Duration time.Duration
	Err      error // as reported in the [EventWorkerHalted] event
}

// timeline builds the Timeline of a shutdown that ended with err. It is
// only built when someone reads it, so that a service with no observer and
// logging disabled pays nothing for it.
func (sv *supervisor) timeline(err error) *Timeline {
	tl := &Timeline{
		Reason:           sv.reason,
		ReadinessOff:     sv.readinessOff.Sub(sv.triggered),
		Delay:            sv.delayed,
		Total:            time.Since(sv.triggered),
		DeadlineExceeded: errors.Is(err, ErrShutdownTimeout),
	}
	for i := len(sv.members) - 1; i >= 0; i-- {
		if m := sv.members[i]; m.halted {
			tl.Halts = append(tl.Halts, HaltTiming{Worker: m.name, Duration: m.haltTook, Err: m.haltErr})
		}
	}
	return tl
}

// logTimeline logs tl as one line at level: a warning when the deadline
// passed.
func (sv *supervisor) logTimeline(tl *Timeline, level slog.Level) {
	halts := make([]any, len(tl.Halts))
	for i, h := range tl.Halts {
		halts[i] = slog.Duration(h.Worker, h.Duration)
	}
	sv.log.LogAttrs(context.Background(), level, "flex: shutdown timeline",
		slog.String("reason", tl.Reason),
		slog.Duration("readiness_off", tl.ReadinessOff),
		slog.Duration("delay", tl.Delay),
		slog.Group("halted", halts...),
		slog.Duration("total", tl.Total),
		slog.Bool("deadline_exceeded", tl.DeadlineExceeded))
}
