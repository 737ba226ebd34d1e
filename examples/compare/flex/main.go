// Command flex serves work.Handler as a flex service: one flexhttp worker
// with /readyz and /livez in front of the handler.
//
// Its shutdown is set by the environment, as in Kubernetes: after SIGTERM,
// /readyz fails at once, the server keeps serving for FLEX_SHUTDOWN_DELAY
// while the load balancer takes the replica out, and then drains within
// FLEX_SHUTDOWN_TIMEOUT. The ways "flex" and "flex-nodelay" both run this
// program; they differ only in FLEX_SHUTDOWN_DELAY. It listens on
// FLEX_HTTP_ADDR.
package main

import (
	"context"
	"log"
	"net/http"

	"github.com/go-flexible/flexible/examples/compare/work"
	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
)

func main() {
	svc := flex.New()
	srv, err := flexhttp.New(&http.Server{Handler: work.Handler()}, flexhttp.WithHealth(svc.Health()))
	if err != nil {
		log.Fatal(err)
	}
	svc.MustStart(context.Background(), srv)
}
