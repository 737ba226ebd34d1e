package flex_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// slowHalt returns a probe whose Halt takes d (of synctest's fake time).
func slowHalt(name string, d time.Duration) *probe {
	p := newProbe(name)
	p.onHalt = func(context.Context) error {
		time.Sleep(d)
		return nil
	}
	return p
}

func TestShutdownTimelineIsLoggedAndObserved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		buf := &syncBuffer{}
		events := newEventLog()
		first, second := slowHalt("first", time.Second), slowHalt("second", 3*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		svc := flex.New(quiet(buf, flex.WithObserver(events), flex.WithShutdownDelay(2*time.Second))...)
		result := startAsync(ctx, svc, first, second)
		<-first.started
		<-second.started
		cancel()
		if err := <-result; err != nil {
			t.Fatal(err)
		}

		var got *flex.Timeline
		for _, e := range events.all() {
			if e.Kind == flex.EventStopped {
				got = e.Timeline
			}
		}
		want := &flex.Timeline{
			Reason: "context done: context canceled",
			Delay:  2 * time.Second,
			Halts:  []flex.HaltTiming{{Worker: "second", Duration: 3 * time.Second}, {Worker: "first", Duration: time.Second}},
			Total:  6 * time.Second,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("EventStopped's timeline = %+v, want %+v", got, want)
		}

		var line map[string]any
		for _, rec := range buf.records(t) {
			if rec["msg"] == "flex: shutdown timeline" {
				if line != nil {
					t.Errorf("two timeline lines: %v and %v", line, rec)
				}
				line = rec
			}
		}
		if line == nil {
			t.Fatalf("no timeline line in the log:\n%s", buf)
		}
		wantLine := map[string]any{
			"level": "INFO", "msg": "flex: shutdown timeline", "reason": "context done: context canceled",
			"readiness_off": 0.0, "delay": 2e9, "halted": map[string]any{"second": 3e9, "first": 1e9},
			"total": 6e9, "deadline_exceeded": false,
		}
		delete(line, "time")
		if !reflect.DeepEqual(line, wantLine) {
			t.Errorf("timeline line = %v, want %v", line, wantLine)
		}
	})
}

func TestShutdownTimelineNamesTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		buf := &syncBuffer{}
		events := newEventLog()
		stuck := &stubborn{release: make(chan struct{})}
		defer close(stuck.release)
		ctx, cancel := context.WithCancel(context.Background())
		svc := flex.New(quiet(buf, flex.WithObserver(events), flex.WithShutdownTimeout(4*time.Second))...)
		result := startAsync(ctx, svc, flex.Named("stuck", stuck))
		synctest.Wait()
		cancel()
		if err := <-result; !errors.Is(err, flex.ErrShutdownTimeout) {
			t.Fatalf("Start = %v, want ErrShutdownTimeout", err)
		}
		var tl *flex.Timeline
		for _, e := range events.all() {
			if e.Kind == flex.EventStopped {
				tl = e.Timeline
			}
		}
		if tl == nil || !tl.DeadlineExceeded || tl.Total != 4*time.Second || len(tl.Halts) != 1 || tl.Halts[0].Worker != "stuck" ||
			tl.Halts[0].Err == nil {
			t.Errorf("timeline = %+v, want the deadline exceeded after 4s, stuck's Halt with its error", tl)
		}
		var level any
		for _, rec := range buf.records(t) {
			if rec["msg"] == "flex: shutdown timeline" {
				level = rec["level"]
			}
		}
		if level != "WARN" {
			t.Errorf("timeline line's level = %v, want WARN", level)
		}
	})
}
