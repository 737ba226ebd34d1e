package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait: it turns a hang into a failure and is no
// performance target.
const waitTimeout = 60 * time.Second

// ordersProc is the order system, built by the Dockerfile's command,
// running as a child process on SQLite, its in-process broker and free
// loopback ports.
type ordersProc struct {
	api, ops string // http://127.0.0.1:port
	log      *syncBuffer
}

// startOrders starts the order system with env added to a clean
// environment, waits until it is ready, and stops it with SIGTERM when the
// test ends, checking that it exits 0 after logging its shutdown timeline.
func startOrders(t *testing.T, env ...string) *ordersProc {
	t.Helper()
	bin := ordersBinary(t)
	dir := t.TempDir()
	p := &ordersProc{log: new(syncBuffer)}
	cmd := exec.Command(bin)
	cmd.Env = append(cleanEnv(),
		"ORDERS_SQLITE_PATH="+filepath.Join(dir, "orders.db"),
		"ORDERS_KAFKA_DATA_DIR="+filepath.Join(dir, "kafka"),
		"FLEX_HTTP_ADDR=127.0.0.1:0", // the ports are read from the log
		"FLEX_METRICS_ADDR=127.0.0.1:0",
		"FLEX_SHUTDOWN_TIMEOUT=20s",
	)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, p.log))
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "flexhttp: listening") {
				if _, addr, ok := strings.Cut(line, " addr="); ok {
					addrs <- strings.Fields(addr)[0]
				}
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the order system ended with %v after SIGTERM; its log:\n%s", err, p.log)
			}
		case <-time.After(waitTimeout):
			cmd.Process.Kill()
			t.Errorf("the order system still ran %v after SIGTERM", waitTimeout)
		}
		if !strings.Contains(p.log.String(), "flex: shutdown timeline") {
			t.Errorf("no shutdown timeline in the order system's log:\n%s", p.log)
		}
	})
	var found []string
	for len(found) < 2 {
		select {
		case a := <-addrs:
			found = append(found, "http://"+a)
		case err := <-exited:
			t.Fatalf("the order system exited: %v; its log:\n%s", err, p.log)
		case <-time.After(waitTimeout):
			t.Fatalf("the order system did not listen within %v; its log:\n%s", waitTimeout, p.log)
		}
	}
	// Both servers log the same line; the operations server serves /metrics.
	p.api, p.ops = found[0], found[1]
	if status(p.api+"/metrics") == http.StatusOK {
		p.api, p.ops = p.ops, p.api
	}
	poll(t, "the order system to be ready", func() bool { return status(p.ops+"/readyz") == http.StatusOK })
	return p
}

// cleanEnv is the test's environment without the variables that would
// point the order system at another database or broker.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "DATABASE_URL", "FLEX_KAFKA_BROKERS", "ORDERS_KAFKA_PREFIX", "PORT":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// status GETs url and returns the status, or 0 without an answer.
func status(url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// poll calls cond until it holds, as a load balancer polls readiness: for
// conditions that no event announces (another process's state). It only
// returns early; waitTimeout turns a hang into a failure.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitTimeout, what)
		}
	}
}

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// driveLoad sends the API some of every kind of request: orders created
// (and so paid and shipped by the consumers), cancelled, read, listed, not
// found and invalid.
func driveLoad(t *testing.T, api string) {
	t.Helper()
	cancelled := 0
	for i := range 30 {
		body := fmt.Sprintf(`{"customer":"c%d","items":[{"sku":"BOOK-1","qty":1,"price_cents":1250}]}`, i)
		resp := request(t, http.MethodPost, api+"/orders", body)
		if resp.code != http.StatusCreated {
			t.Fatalf("POST /orders = %d: %s", resp.code, resp.body)
		}
		var o struct{ ID string }
		if err := json.Unmarshal([]byte(resp.body), &o); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 && request(t, http.MethodPost, api+"/orders/"+o.ID+"/cancel", "").code == http.StatusOK {
			cancelled++ // or paid meanwhile: 409
		}
		request(t, http.MethodGet, api+"/orders/"+o.ID, "")
	}
	if cancelled == 0 {
		t.Fatal("no order could be cancelled: every one was paid first")
	}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/orders?limit=5", ""},
		{http.MethodGet, "/orders/ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
		{http.MethodPost, "/orders", `{"customer":""}`},
	} {
		request(t, r.method, api+r.path, r.body)
	}
}

type response struct {
	code int
	body string
}

func request(t *testing.T, method, url, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b)}
}
