package flexcron_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
)

// Two Schedulers in one service have distinct names, so distinct health
// checks: named after their jobs by default, or by WithName.
func TestTwoSchedulersHaveDistinctChecks(t *testing.T) {
	billing := newScheduler(t)
	add(t, billing, "invoice", never, func(context.Context) error { return nil })
	add(t, billing, "remind", never, func(context.Context) error { return nil })
	cleanup := newScheduler(t)
	add(t, cleanup, "vacuum", never, func(context.Context) error { return nil })
	reports := newScheduler(t, flexcron.WithName("reports"))
	add(t, reports, "vacuum", never, func(context.Context) error { return nil })

	ready := make(chan string, 3)
	svc := flex.New(flex.WithLogger(slog.New(slog.DiscardHandler)), flex.WithSignals(), flex.WithShutdownDelay(0),
		flex.WithObserver(flex.ObserverFunc(func(e flex.Event) {
			if e.Kind == flex.EventWorkerReady {
				ready <- e.Worker
			}
		})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Start(ctx, billing, cleanup, reports) }()
	for range 3 {
		<-ready
	}

	rec := httptest.NewRecorder()
	svc.Health().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start = %v", err)
	}
	var report flex.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body.String(), err)
	}
	var got []string
	for _, c := range report.Checks {
		got = append(got, c.Name)
	}
	for _, want := range []string{"worker:cron(invoice,remind)", "worker:cron(vacuum)", "worker:cron(reports)"} {
		if !slices.Contains(got, want) {
			t.Errorf("/readyz checks %q, want one named %q", got, want)
		}
	}
}
