package flexhttp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexhttp"
)

// A server on a free loopback port: run it, wait until it listens, ask it
// something, then halt it gracefully. In a service, give the Server to
// flex.Start instead, which runs and halts it for you.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello, world")
	})
	srv, err := flexhttp.New(&http.Server{Handler: mux},
		flexhttp.WithAddr("127.0.0.1:0"), // any free port; Addr tells which
		flexhttp.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	<-srv.Ready()

	resp, err := http.Get("http://" + srv.Addr() + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, ": ", string(body))

	fmt.Println("halt:", srv.Halt(context.Background()))
	fmt.Println("run:", <-done)
	// Output:
	// 200 OK: hello, world
	// halt: <nil>
	// run: <nil>
}

// A bad address is reported by New, naming where it came from.
func ExampleNew_invalidAddr() {
	_, err := flexhttp.New(nil, flexhttp.WithAddr("localhost"))
	fmt.Println(err)
	// Output:
	// flexhttp: invalid WithAddr "localhost": missing port in address
}

// A flex service running an HTTP server that also serves the service's
// /livez and /readyz. Cancelling ctx (or SIGTERM, in a real program) halts
// the server gracefully and Start returns nil.
func Example_service() {
	svc := flex.New(flex.WithLogger(slog.New(slog.DiscardHandler)), flex.WithShutdownDelay(0))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello, world")
	})
	srv, err := flexhttp.New(&http.Server{Handler: mux},
		flexhttp.WithAddr("127.0.0.1:0"),
		flexhttp.WithHealth(svc.Health()),
		flexhttp.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Start(ctx, srv) }()
	<-srv.Ready()

	resp, err := http.Get("http://" + srv.Addr() + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("/readyz:", resp.Status)

	cancel() // as SIGTERM would
	fmt.Println("start:", <-done)
	// Output:
	// /readyz: 200 OK
	// start: <nil>
}
