// Command careful is a careful hand-rolled graceful shutdown: after the
// signal, Shutdown gets a fresh context with the same 20 s timeout that
// flex's FLEX_SHUTDOWN_TIMEOUT has, so requests in flight complete. What it
// lacks is a readiness endpoint that fails before the listener closes: the
// load balancer learns that the replica is gone from refused connections.
// It listens on ADDR.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-flexible/flexible/examples/compare/work"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{
		Addr:              os.Getenv("ADDR"),
		Handler:           work.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()

	select {
	case err := <-errc:
		log.Fatal(err)
	case <-ctx.Done():
	}
	stop() // a second signal kills the process

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown: %v", err)
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
