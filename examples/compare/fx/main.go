// Command fx runs the server as an uber-go/fx application: an OnStart hook
// listens and serves, an OnStop hook calls Shutdown with the stop context,
// which fx bounds by StopTimeout (20 s here, as flex's
// FLEX_SHUTDOWN_TIMEOUT). fx.App.Run stops on SIGINT and SIGTERM. There is
// no readiness endpoint. It listens on ADDR.
package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/go-flexible/flexible/examples/compare/work"
)

// newServer returns the server, started and stopped by lc.
func newServer(lc fx.Lifecycle) *http.Server {
	srv := &http.Server{Addr: os.Getenv("ADDR"), Handler: work.Handler(), ReadHeaderTimeout: 10 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := net.Listen("tcp", srv.Addr)
			if err != nil {
				return err
			}
			go srv.Serve(ln)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			return srv.Shutdown(ctx)
		},
	})
	return srv
}

func main() {
	fx.New(
		fx.Provide(newServer),
		fx.Invoke(func(*http.Server) {}),
		fx.StopTimeout(20*time.Second),
		fx.NopLogger,
	).Run()
}
