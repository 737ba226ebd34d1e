package flex_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// The tests in this file re-execute the test binary as a child process
// running a real service, and send it real signals.

const childEnv = "FLEX_TEST_CHILD"

// TestChild is the child's body; it does nothing unless started by a
// parent test below.
func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "http":
		childHTTP()
	case "stuck":
		childStuck()
	default:
		t.Skip("runs only as a child process of TestSIGTERM* tests")
	}
}

// httpWorker is a minimal HTTP server worker (the real one is flexhttp,
// which the core cannot import).
type httpWorker struct {
	srv *http.Server
	ln  net.Listener
}

func (w *httpWorker) String() string { return "http" }
func (w *httpWorker) Run(ctx context.Context) error {
	if err := w.srv.Serve(w.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
func (w *httpWorker) Halt(ctx context.Context) error { return w.srv.Shutdown(ctx) }

func childHTTP() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	shuttingDown := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("INFLIGHT")
		<-shuttingDown // answer only once Shutdown is draining this request
		fmt.Fprint(w, "finished")
	})}
	srv.RegisterOnShutdown(func() { close(shuttingDown) })
	fmt.Println("ADDR", ln.Addr())
	flex.New(flex.WithShutdownDelay(0)).MustStart(context.Background(), &httpWorker{srv: srv, ln: ln})
	fmt.Println("CLEAN EXIT")
	os.Exit(0)
}

func childStuck() {
	events := flex.ObserverFunc(func(e flex.Event) {
		if e.Kind == flex.EventWorkerHalting {
			fmt.Println("HALTING")
		}
	})
	stuck := flex.Func(func(ctx context.Context) error {
		fmt.Println("RUNNING") // the worker's own code has begun
		select {}
	})
	// Halt never finishes within the hour: only a second signal ends this.
	flex.New(flex.WithShutdownTimeout(time.Hour), flex.WithShutdownDelay(0), flex.WithObserver(events)).
		MustStart(context.Background(), flex.Named("stuck", stuck))
	fmt.Println("CLEAN EXIT")
	os.Exit(0)
}

// child starts the test binary as a child in the given mode and returns it
// with a reader of its stdout lines.
func child(t *testing.T, mode string) (*exec.Cmd, *bufio.Scanner, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "KUBERNETES_SERVICE_HOST=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(stdout), stderr
}

// expectLine reads lines until one starts with prefix and returns the rest.
func expectLine(t *testing.T, lines *bufio.Scanner, prefix string) string {
	t.Helper()
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("child ended without printing %q", prefix)
	return ""
}

// waitExit waits for the child, failing if it takes longer than limit: far
// longer than a working child needs, far shorter than the timeouts it was
// given, so that it tells a prompt exit from a wait for the deadline.
func waitExit(t *testing.T, cmd *exec.Cmd, lines *bufio.Scanner, limit time.Duration) (int, string) {
	t.Helper()
	var rest strings.Builder
	done := make(chan error, 1)
	go func() {
		for lines.Scan() {
			rest.WriteString(lines.Text() + "\n")
		}
		done <- cmd.Wait()
	}()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), rest.String()
	case <-time.After(limit):
		t.Fatalf("child still running %v after the signal", limit)
		return 0, ""
	}
}

func TestSIGTERMDrainsInFlightRequest(t *testing.T) {
	cmd, lines, stderr := child(t, "http")
	addr := expectLine(t, lines, "ADDR")

	type response struct {
		code int
		body string
		err  error
	}
	got := make(chan response, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- response{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- response{resp.StatusCode, string(body), err}
	}()
	expectLine(t, lines, "INFLIGHT")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.code != http.StatusOK || r.body != "finished" {
		t.Errorf("in-flight request during SIGTERM: %d %q %v, want 200 \"finished\"", r.code, r.body, r.err)
	}
	code, rest := waitExit(t, cmd, lines, time.Minute)
	if code != 0 || !strings.Contains(rest, "CLEAN EXIT") {
		t.Errorf("child exited %d, want 0 after a clean shutdown\nstdout:\n%s\nstderr:\n%s", code, rest, stderr)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the child's port still accepts connections")
	}
}

func TestSecondSignalExitsNonZeroAtOnce(t *testing.T) {
	for _, second := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(second.String(), func(t *testing.T) {
			cmd, lines, stderr := child(t, "stuck")
			// The child installs its signal handler before starting its
			// worker. "worker started" is logged just before Run is called:
			// a signal then may halt the worker before its function runs,
			// and a function that never ran cannot be stuck. So wait for
			// the function itself.
			expectLine(t, lines, "RUNNING")
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			expectLine(t, lines, "HALTING")
			if err := cmd.Process.Signal(second); err != nil {
				t.Fatal(err)
			}
			code, rest := waitExit(t, cmd, lines, time.Minute)
			if code == 0 || strings.Contains(rest, "CLEAN EXIT") {
				t.Errorf("child exited %d, want non-zero after a second signal", code)
			}
			if !strings.Contains(stderr.String(), "second signal") {
				t.Errorf("child's log does not say why it gave up:\n%s", stderr)
			}
		})
	}
}
