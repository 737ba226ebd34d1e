// Command oklogrun runs the server in an oklog/run group beside the
// library's signal handler actor. The server's interrupt calls Shutdown with
// a fresh 20 s timeout (the same as flex's FLEX_SHUTDOWN_TIMEOUT), so
// requests in flight complete; there is no readiness endpoint. It listens on
// ADDR.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/go-flexible/flexible/examples/compare/work"
)

func main() {
	ln, err := net.Listen("tcp", os.Getenv("ADDR"))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: work.Handler(), ReadHeaderTimeout: 10 * time.Second}

	var g run.Group
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	g.Add(func() error {
		return srv.Serve(ln)
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	})
	err = g.Run()
	fmt.Fprintln(os.Stderr, "exit:", err)
}
