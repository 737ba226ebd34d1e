package flexmetrics_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// flex_ready follows the service's readiness from scrape to scrape, as
// /readyz does.
func TestReadyGauge(t *testing.T) {
	var failing atomic.Bool
	started := make(chan struct{})
	svc := flex.New(flex.WithReadinessCheck(flex.Check{Name: "database", Func: func(context.Context) error {
		if failing.Load() {
			return errors.New("database unreachable")
		}
		return nil
	}}), flex.WithSignals(), flex.WithShutdownDelay(0), flex.WithLogger(quiet))
	_, base := start(t, flexmetrics.WithHealth(svc.Health()))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		stopped <- svc.Start(ctx, flex.Func(func(ctx context.Context) error {
			close(started) // inside Run: the worker counts as started, and ready
			<-ctx.Done()
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	<-started
	for _, tc := range []struct {
		failing bool
		want    float64
	}{{false, 1}, {true, 0}, {false, 1}} {
		failing.Store(tc.failing)
		mfs, _ := scrape(t, base+"/metrics")
		if got := mustSample(t, mfs, "flex_ready", nil); got != tc.want {
			t.Errorf("database check failing %v: flex_ready = %v, want %v", tc.failing, got, tc.want)
		}
	}
}

// A second server with the service's health on the same registry is an
// error, not a silent second gauge.
func TestReadyGaugeRegisteredOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := flex.New()
	opts := []flexmetrics.Option{flexmetrics.WithRegistry(reg), flexmetrics.WithHealth(svc.Health()), flexmetrics.WithoutEnv()}
	if _, err := flexmetrics.New(opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := flexmetrics.New(opts...); err == nil {
		t.Error("second New with the same registry and health succeeded")
	}
}
