package flex_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// exampleLogger keeps the examples' output to what they print themselves.
func exampleLogger() flex.Option { return flex.WithLogger(slog.New(slog.DiscardHandler)) }

func ExampleStart() {
	ctx, cancel := context.WithCancel(context.Background())

	ticker := flex.Named("ticker", flex.Func(func(ctx context.Context) error {
		fmt.Println("ticker running")
		cancel() // stop the service, as SIGTERM would
		<-ctx.Done()
		fmt.Println("ticker halted")
		return nil
	}))

	err := flex.New(exampleLogger()).Start(ctx, ticker)
	fmt.Println("Start returned", err)
	// Output:
	// ticker running
	// ticker halted
	// Start returned <nil>
}

func ExampleFunc() {
	worker := flex.Func(func(ctx context.Context) error {
		<-ctx.Done() // Halt cancels ctx
		return ctx.Err()
	})
	done := make(chan error)
	go func() { done <- worker.Run(context.Background()) }()

	fmt.Println("Halt:", worker.Halt(context.Background()))
	fmt.Println("Run:", <-done) // the cancellation caused by Halt is not an error
	// Output:
	// Halt: <nil>
	// Run: <nil>
}

func ExampleNewGroup() {
	worker := func(name string) flex.Worker {
		return flex.Named(name, flex.Func(func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		}))
	}
	// Two independent consumers halt together; the API, registered last,
	// halts before both.
	consumers := flex.NewGroup(worker("orders"), worker("payments"))
	api := worker("api")
	fmt.Println(consumers)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var order []string
	observer := flex.ObserverFunc(func(e flex.Event) {
		if e.Kind == flex.EventWorkerHalted {
			order = append(order, e.Worker)
		}
	})
	err := flex.New(exampleLogger(), flex.WithObserver(observer)).Start(ctx, consumers, api)
	fmt.Println(strings.Join(order, " then "), err)
	// Output:
	// group(orders, payments)
	// api then group(orders, payments) <nil>
}

func ExampleService_Health() {
	svc := flex.New(exampleLogger(), flex.WithReadinessCheck(flex.Check{
		Name: "database",
		Func: func(ctx context.Context) error { return errors.New("connection refused") },
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /livez", svc.Health())
	mux.Handle("GET /readyz", svc.Health())

	for _, path := range []string{"/livez", "/readyz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Print(path, " ", rec.Code, " ", rec.Body)
	}
	// Output:
	// /livez 200 {"status":"ok","checks":[]}
	// /readyz 503 {"status":"fail","checks":[{"name":"shutdown","status":"ok"},{"name":"workers","status":"fail","error":"not started"},{"name":"database","status":"fail","error":"connection refused"}]}
}

// MustStart suits main: it blocks until SIGINT or SIGTERM, shuts down
// gracefully and exits with status 1 if anything failed. (This example is
// compiled, not run.)
func ExampleMustStart() {
	heartbeat := flex.Named("heartbeat", flex.Func(func(ctx context.Context) error {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				slog.Info("alive")
			case <-ctx.Done(): // Halt cancels ctx
				return nil
			}
		}
	}))
	flex.MustStart(context.Background(), heartbeat)
}
