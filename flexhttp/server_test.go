package flexhttp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flex/flextest"
	"github.com/go-flexible/flexible/flexhttp"
)

func TestConformance(t *testing.T) {
	flextest.TestWorker(t, func(t *testing.T) flex.Worker { return newServer(t, nil) })
}

func TestConformanceTLS(t *testing.T) {
	cert, key, _ := writeCert(t)
	flextest.TestWorker(t, func(t *testing.T) flex.Worker {
		return newServer(t, nil, flexhttp.WithTLS(cert, key))
	})
}

// An in-flight request completes during Halt, while new connections are
// refused, and Halt and Run then return nil.
func TestHaltDrainsInFlightRequest(t *testing.T) {
	h := newBlockingHandler(t)
	srv := &http.Server{Handler: h}
	shutdown := onShutdown(srv)
	s := newServer(t, srv)
	done := run(t, s)

	inflight := getAsync(newClient(t), "http://"+s.Addr())
	await(t, h.started, "handler start")
	halted := make(chan error, 1)
	go func() { halted <- s.Halt(context.Background()) }()
	await(t, shutdown, "shutdown start")

	if conn, err := net.Dial("tcp", s.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("dial during Halt: err = %v, want connection refused", err)
	}
	select {
	case err := <-halted:
		t.Fatalf("Halt returned %v while a request was in flight", err)
	case err := <-done:
		t.Fatalf("Run returned %v while a request was in flight", err)
	default:
	}

	close(h.release)
	if got := await(t, inflight, "in-flight response"); got.err != nil || got.code != http.StatusOK || got.body != "done" {
		t.Errorf("in-flight request = %d %q, %v; want 200 \"done\", nil", got.code, got.body, got.err)
	} else if !got.closed {
		t.Error("in-flight response kept its connection alive during Halt; want Connection: close")
	}
	if err := await(t, halted, "Halt"); err != nil {
		t.Errorf("Halt = %v, want nil", err)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// Halt closes idle keep-alive connections before returning.
func TestHaltClosesIdleKeepAliveConnections(t *testing.T) {
	s := newServer(t, &http.Server{Handler: okHandler()})
	done := run(t, s)

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(hangGuard)) // a hang guard, not a timing assertion
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("server asked to close the connection; want keep-alive")
	}

	if err := s.Halt(context.Background()); err != nil {
		t.Fatalf("Halt = %v, want nil", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read on the idle keep-alive connection after Halt: %v, want EOF", err)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// A Halt whose deadline has passed force-closes the connections still busy
// and says so.
func TestHaltDeadlineForceCloses(t *testing.T) {
	h := newBlockingHandler(t)
	s := newServer(t, &http.Server{Handler: h})
	done := run(t, s)
	inflight := getAsync(newClient(t), "http://"+s.Addr())
	await(t, h.started, "handler start")

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := s.Halt(ctx)
	// The error names the address listened on, not the configured ":0".
	want := "flexhttp: drain of " + s.Addr() + " abandoned at deadline, 1 requests cut, connections force-closed: context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Errorf("Halt = %v, want %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Halt error %v does not wrap context.DeadlineExceeded", err)
	}
	if got := await(t, inflight, "in-flight response"); got.err == nil {
		t.Errorf("in-flight request = %d %q, want an error: its connection was force-closed", got.code, got.body)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	// A second Halt reports the same outcome.
	if err2 := s.Halt(context.Background()); err2 == nil || err2.Error() != want {
		t.Errorf("second Halt = %v, want %q", err2, want)
	}
}

// A Halt whose context is cancelled in the middle of the drain gives up
// then, and concurrent Halts all return.
func TestHaltCancelledMidDrain(t *testing.T) {
	h := newBlockingHandler(t)
	srv := &http.Server{Handler: h}
	shutdown := onShutdown(srv)
	s := newServer(t, srv)
	done := run(t, s)
	inflight := getAsync(newClient(t), "http://"+s.Addr())
	await(t, h.started, "handler start")

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- s.Halt(context.Background()) }()
	await(t, shutdown, "shutdown start")
	second := make(chan error, 1)
	go func() { second <- s.Halt(ctx) }()
	cancel()

	err := await(t, second, "Halt with the cancelled ctx")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "abandoned") {
		t.Errorf("Halt = %v, want an abandoned drain wrapping context.Canceled", err)
	}
	if got := await(t, first, "first Halt"); got == nil || got.Error() != err.Error() {
		t.Errorf("first Halt = %v, want the same outcome %v", got, err)
	}
	if got := await(t, inflight, "in-flight response"); got.err == nil {
		t.Errorf("in-flight request = %d %q, want an error", got.code, got.body)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// A Halt with an expired context but nothing in flight has nothing to
// abandon: it returns nil.
func TestHaltExpiredContextIdle(t *testing.T) {
	s := newServer(t, nil)
	done := run(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Halt(ctx); err != nil {
		t.Errorf("Halt = %v, want nil", err)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestHaltBeforeRun(t *testing.T) {
	s := newServer(t, nil)
	if err := s.Halt(context.Background()); err != nil {
		t.Fatalf("Halt = %v, want nil", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if got := s.Addr(); got != "" {
		t.Errorf("Addr = %q, want \"\": Run after Halt must not listen", got)
	}
	select {
	case <-s.Ready():
		t.Error("Ready closed, but the server never listened")
	default:
	}
	halted := make(chan error, 1)
	go func() { halted <- s.Halt(context.Background()) }()
	if err := await(t, halted, "a second Halt"); err != nil {
		t.Errorf("second Halt = %v, want nil", err)
	}
}

func TestRunTwice(t *testing.T) {
	s := newServer(t, nil)
	run(t, s)
	if err := s.Run(context.Background()); !errors.Is(err, flexhttp.ErrAlreadyStarted) {
		t.Errorf("second Run = %v, want ErrAlreadyStarted", err)
	}
}

func TestRunListenFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	s := newServer(t, nil, flexhttp.WithAddr(addr))

	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	err = await(t, done, "Run")
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "flexhttp: cannot listen on "+addr+": ") {
		t.Errorf("Run = %v, want \"flexhttp: cannot listen on %s: ...\" wrapping EADDRINUSE", err, addr)
	}
	select {
	case <-s.Ready():
		t.Error("Ready closed after a listen failure")
	default:
	}
	if err := s.Halt(context.Background()); err != nil {
		t.Errorf("Halt after a failed Run = %v, want nil", err)
	}
}

// Cancelling Run's context closes the server at once, cutting requests.
func TestCancelRunContextCloses(t *testing.T) {
	h := newBlockingHandler(t)
	s := newServer(t, &http.Server{Handler: h})
	ctx, cancel := context.WithCancel(context.Background())
	done := runCtx(t, s, ctx)
	addr := s.Addr()
	inflight := getAsync(newClient(t), "http://"+addr)
	await(t, h.started, "handler start")

	cancel()
	err := await(t, done, "Run")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "force-closed") {
		t.Errorf("Run = %v, want a force-close error wrapping context.Canceled", err)
	}
	if got := await(t, inflight, "in-flight response"); got.err == nil {
		t.Errorf("in-flight request = %d %q, want an error", got.code, got.body)
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Run returned: %v, want connection refused", err)
	}
}

// Cancelling Run's context during a drain cuts the drain short; Halt says
// so and Run returns nil, since it was halted.
func TestCancelRunContextDuringDrain(t *testing.T) {
	h := newBlockingHandler(t)
	srv := &http.Server{Handler: h}
	shutdown := onShutdown(srv)
	s := newServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := runCtx(t, s, ctx)
	inflight := getAsync(newClient(t), "http://"+s.Addr())
	await(t, h.started, "handler start")

	halted := make(chan error, 1)
	go func() { halted <- s.Halt(context.Background()) }()
	await(t, shutdown, "shutdown start")
	cancel()

	err := await(t, halted, "Halt")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "drain of "+s.Addr()+" cut short") {
		t.Errorf("Halt = %v, want a cut-short drain of %s wrapping context.Canceled", err, s.Addr())
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if got := await(t, inflight, "in-flight response"); got.err == nil {
		t.Errorf("in-flight request = %d %q, want an error", got.code, got.body)
	}
}

// Two servers built from defaults share nothing: halting one leaves the
// other serving, and one's options do not leak into the other. (The
// original go-flexible New(nil) returned one global *http.Server.)
func TestServersFromDefaultsAreIndependent(t *testing.T) {
	health := flex.New().Health()
	a := newServer(t, nil, flexhttp.WithHealth(health))
	b := newServer(t, nil)
	doneA, doneB := run(t, a), run(t, b)
	c := newClient(t)

	if got := get(c, "http://"+a.Addr()+"/livez"); got.code != http.StatusOK {
		t.Errorf("a /livez = %d, want 200", got.code)
	}
	if got := get(c, "http://"+b.Addr()+"/livez"); got.code != http.StatusNotFound {
		t.Errorf("b /livez = %d, want 404: a's WithHealth leaked into b", got.code)
	}

	if err := a.Halt(context.Background()); err != nil {
		t.Fatalf("a.Halt = %v", err)
	}
	await(t, doneA, "a.Run")
	select {
	case err := <-doneB:
		t.Fatalf("b.Run returned %v when a was halted", err)
	default:
	}
	c.CloseIdleConnections()
	if got := get(c, "http://"+b.Addr()+"/"); got.err != nil || got.code != http.StatusNotFound {
		t.Errorf("b after a halted = %d, %v; want 404 from the nil handler", got.code, got.err)
	}
	if got := get(c, "http://"+a.Addr()+"/"); got.err == nil {
		t.Errorf("a after Halt answered %d, want a refused connection", got.code)
	}
}

func TestString(t *testing.T) {
	s, err := flexhttp.New(nil, flexhttp.WithAddr(":9999"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "http(:9999)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := flex.Name(s), "http(:9999)"; got != want {
		t.Errorf("flex.Name = %q, want %q", got, want)
	}
}

// A flex service runs the server, reports it ready, and on ctx cancel
// halts it gracefully: the in-flight request completes and Start returns nil.
func TestServiceGracefulShutdown(t *testing.T) {
	svc := flex.New(flex.WithSignals(), flex.WithShutdownDelay(0),
		flex.WithShutdownTimeout(hangGuard), flex.WithLogger(discard))
	h := newBlockingHandler(t)
	mux := http.NewServeMux()
	mux.Handle("/slow", h)
	srv := &http.Server{Handler: mux}
	shutdown := onShutdown(srv)
	s := newServer(t, srv, flexhttp.WithHealth(svc.Health()))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- svc.Start(ctx, s) }()
	await(t, s.Ready(), "Ready")

	c := newClient(t)
	ready := get(c, "http://"+s.Addr()+"/readyz")
	if ready.code != http.StatusOK || !strings.Contains(ready.body, `"name":"worker:http(127.0.0.1:0)","status":"ok"`) {
		t.Errorf("/readyz = %d %s, want 200 with worker:http(127.0.0.1:0) ok", ready.code, ready.body)
	}
	inflight := getAsync(c, "http://"+s.Addr()+"/slow")
	await(t, h.started, "handler start")

	cancel()
	await(t, shutdown, "shutdown start")
	select {
	case err := <-result:
		t.Fatalf("Start returned %v while a request was in flight", err)
	default:
	}
	close(h.release)
	if got := await(t, inflight, "in-flight response"); got.err != nil || got.code != http.StatusOK {
		t.Errorf("in-flight request = %d, %v; want 200", got.code, got.err)
	}
	if err := await(t, result, "Start"); err != nil {
		t.Errorf("Start = %v, want nil", err)
	}
}

// A server that cannot listen stops the service at once with an error
// naming it.
func TestServiceListenFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newServer(t, nil, flexhttp.WithAddr(taken.Addr().String()))
	svc := flex.New(flex.WithSignals(), flex.WithShutdownDelay(0), flex.WithLogger(discard))
	result := make(chan error, 1)
	go func() { result <- svc.Start(context.Background(), s) }()

	err = await(t, result, "Start")
	var werr *flex.WorkerError
	if !errors.As(err, &werr) || werr.Worker != s.String() || werr.Op != "run" || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Start = %v, want a run error of %s wrapping EADDRINUSE", err, s)
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}
