// Command notifycontext is the most common hand-rolled graceful shutdown:
// signal.NotifyContext, then srv.Shutdown with that same context, which the
// signal has already cancelled. Shutdown closes the listener and returns
// ctx.Err() at once; main returns and the requests in flight are cut.
// It listens on ADDR and has no readiness endpoint.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-flexible/flexible/examples/compare/work"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{Addr: os.Getenv("ADDR"), Handler: work.Handler()}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	<-ctx.Done()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
}
