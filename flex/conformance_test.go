package flex_test

import (
	"context"
	"testing"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
)

func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestConformanceFunc(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker { return flex.Func(blockUntilDone) })
}

func TestConformanceNamed(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker { return flex.Named("n", flex.Func(blockUntilDone)) })
}

func TestConformanceGroup(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		return flex.NewGroup(flex.Func(blockUntilDone), flex.Func(blockUntilDone))
	})
}
