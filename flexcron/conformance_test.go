package flexcron_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexcron"
)

func TestConformance(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		s, err := flexcron.New(flexcron.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add("tick", "@every 1s", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
