package flexhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// The tests in this file drain a server while a client is still sending its
// request, one byte a second, as a slow mobile client or a slowloris does.

// uploadHandler reads the whole body before doing anything with it, as a
// JSON API does, and reports when it has begun and how the read ended.
type uploadHandler struct {
	started chan struct{}
	readErr chan error
	release chan struct{} // closed to let a handler that has its body finish
}

func newUploadHandler(t *testing.T) *uploadHandler {
	h := &uploadHandler{started: make(chan struct{}, 1), readErr: make(chan error, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	return h
}

func (h *uploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- struct{}{}
	_, err := io.ReadAll(r.Body)
	h.readErr <- err
	if err != nil {
		http.Error(w, "incomplete body", http.StatusBadRequest)
		return
	}
	<-h.release
	io.WriteString(w, "stored")
}

// trickle connects to addr, sends a request header announcing a body of
// size bytes, then sends the body one byte every interval until the
// connection fails. It returns the connection.
func trickle(t *testing.T, addr string, size int, interval time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range size {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(interval)
		}
	}()
	return conn
}

// needyWorker is halted after the server and needs need to halt, honouring
// its context; it records whether it had that time.
type needyWorker struct {
	need    time.Duration
	stop    chan struct{}
	haltErr atomic.Pointer[error]
}

func (n *needyWorker) String() string { return "producer" }
func (n *needyWorker) Run(ctx context.Context) error {
	select {
	case <-n.stop:
	case <-ctx.Done():
	}
	return nil
}
func (n *needyWorker) Halt(ctx context.Context) error {
	var err error
	select {
	case <-time.After(n.need): // flushing
	case <-ctx.Done():
		err = fmt.Errorf("flush cut short: %w", ctx.Err())
	}
	n.haltErr.Store(&err)
	close(n.stop)
	return err
}

// The scenario: one client trickling its body at SIGTERM used to
// keep the server draining for the whole shutdown timeout, so the workers
// halted after it were abandoned and the service failed.
func TestSlowClientDoesNotStarveLaterWorkers(t *testing.T) {
	h := newUploadHandler(t)
	mux := http.NewServeMux()
	mux.Handle("POST /upload", h)
	s := newServer(t, &http.Server{Handler: mux})
	later := &needyWorker{need: 200 * time.Millisecond, stop: make(chan struct{})}
	svc := flex.New(flex.WithSignals(syscall.SIGTERM), flex.WithShutdownDelay(0),
		flex.WithShutdownTimeout(2*time.Second), flex.WithLogger(discard))
	result := make(chan error, 1)
	go func() { result <- svc.Start(context.Background(), later, s) }()
	await(t, s.Ready(), "Ready") // Start has installed its signal handler before running workers

	conn := trickle(t, s.Addr(), 1000, time.Second)
	await(t, h.started, "handler start")
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	if err := await(t, result, "Start"); err != nil {
		t.Errorf("Start = %v, want nil: the only request cut was still arriving", err)
	}
	if p := later.haltErr.Load(); p == nil || *p != nil {
		t.Errorf("the worker halted after the server: Halt error %v, want it to have had its 200ms", p)
	}
	if err := await(t, h.readErr, "handler's body read"); err == nil {
		t.Error("the handler read a whole body although its client was still sending it")
	}
	conn.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reading the slow client's connection: %v, want it closed by the server", err)
	}
}

// A drain cut short at its deadline is clean when every request it cuts is
// still arriving, and an error when one had its body and was being worked
// on.
func TestHaltDeadlineTellsArrivingFromWorkingRequests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int // body bytes announced; all are sent at once when small
		wantErr string
	}{
		{name: "body still arriving", size: 1000},
		{name: "body received, handler working", size: 1, wantErr: "1 requests cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newUploadHandler(t)
			s := newServer(t, &http.Server{Handler: h})
			done := run(t, s)
			trickle(t, s.Addr(), tc.size, time.Second)
			await(t, h.started, "handler start")
			if tc.size == 1 {
				if err := await(t, h.readErr, "body read"); err != nil {
					t.Fatalf("reading a one-byte body: %v", err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := s.Halt(ctx)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Halt = %v, want nil: the request cut was still arriving", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, context.DeadlineExceeded)):
				t.Errorf("Halt = %v, want an error saying %q and wrapping the deadline", err, tc.wantErr)
			}
			if err := await(t, done, "Run"); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		})
	}
}

// A connection that has sent only part of its request header has no
// handler yet: closing it at the deadline loses nothing either.
func TestHaltDeadlineWithHalfSentHeader(t *testing.T) {
	accepted := make(chan struct{}, 1)
	s := newServer(t, &http.Server{Handler: okHandler(), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepted <- struct{}{}
		}
	}})
	done := run(t, s)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: te"); err != nil {
		t.Fatal(err)
	}
	// Once accepted, Shutdown waits for it (for up to 5s, as for any
	// connection that has begun a request) and the deadline comes first.
	await(t, accepted, "connection accepted")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Halt(ctx); err != nil {
		t.Errorf("Halt = %v, want nil", err)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
