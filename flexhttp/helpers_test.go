package flexhttp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexhttp"
)

// hangGuard bounds every wait in these tests. It is not a performance
// target: a correct server answers far sooner; a broken one hangs forever.
const hangGuard = 10 * time.Second

var discard = slog.New(slog.DiscardHandler)

// newServer builds a Server on a free loopback port that logs nowhere.
func newServer(t *testing.T, srv *http.Server, opts ...flexhttp.Option) *flexhttp.Server {
	t.Helper()
	opts = append([]flexhttp.Option{flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithLogger(discard)}, opts...)
	s, err := flexhttp.New(srv, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// run runs s in a goroutine until it is listening and returns the channel
// that receives Run's result. The test's cleanup halts s.
func run(t *testing.T, s *flexhttp.Server) <-chan error {
	t.Helper()
	return runCtx(t, s, context.Background())
}

func runCtx(t *testing.T, s *flexhttp.Server, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		_ = s.Halt(ctx)
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before listening", err)
	case <-time.After(hangGuard):
		t.Fatalf("%v not listening after %v", s, hangGuard)
	}
	return done
}

// await returns the next value from ch, failing the test if none arrives.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("%s: nothing after %v", what, hangGuard)
		var zero T
		return zero
	}
}

// newClient returns a client with its own connection pool, closed at cleanup.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: hangGuard}
}

type response struct {
	code   int
	body   string
	closed bool // the server said it closes the connection after this response
	err    error
}

// get does a GET and reads the whole response.
func get(c *http.Client, url string) response {
	resp, err := c.Get(url)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(body), closed: resp.Close, err: err}
}

// getAsync does a GET in a goroutine.
func getAsync(c *http.Client, url string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- get(c, url) }()
	return ch
}

// blockingHandler answers "done" once release is closed, after signalling
// on started that a request is in flight.
type blockingHandler struct {
	started chan struct{}
	release chan struct{}
}

func newBlockingHandler(t *testing.T) *blockingHandler {
	h := &blockingHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	return h
}

func (h *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- struct{}{}
	<-h.release
	io.WriteString(w, "done")
}

// onShutdown returns a channel closed when srv begins to shut down, after
// its listeners are closed.
func onShutdown(srv *http.Server) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	srv.RegisterOnShutdown(func() { once.Do(func() { close(ch) }) })
	return ch
}
