package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait: it turns a hang into a failure, and is no
// performance target.
const waitTimeout = 60 * time.Second

var (
	buildOnce sync.Once
	binary    string // the order system, built once for all tests
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ordersBinary builds the order system (../, with -race when this test
// has it) once, and returns its path.
func ordersBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "loadgen-test-")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "orders")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build the order system: %v", buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// ordersProc is the order system running as a child process, on SQLite
// and free loopback ports.
type ordersProc struct {
	api    string // http://127.0.0.1:port
	ops    string // the operations server
	dbPath string // its SQLite file, unless env gives a DATABASE_URL
	dbURL  string // its database, for -database-url
	log    *syncBuffer
}

// startOrders starts the order system in a temporary directory with env
// added to a clean environment (no DATABASE_URL, no FLEX_KAFKA_BROKERS:
// SQLite and the in-process broker unless env says otherwise), waits until
// it is ready, and stops it with SIGTERM when the test ends, checking that
// it exits 0.
func startOrders(t *testing.T, env ...string) *ordersProc {
	t.Helper()
	bin := ordersBinary(t)
	dir := t.TempDir()
	p := &ordersProc{dbPath: filepath.Join(dir, "orders.db"), log: new(syncBuffer)}
	p.dbURL = "sqlite:" + p.dbPath
	for _, kv := range env {
		if u, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			p.dbURL = u
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(cleanEnv(),
		"ORDERS_SQLITE_PATH="+p.dbPath,
		"ORDERS_KAFKA_DATA_DIR="+filepath.Join(dir, "kafka"),
		"FLEX_HTTP_ADDR=127.0.0.1:0", // the ports are read from the log
		"FLEX_METRICS_ADDR=127.0.0.1:0",
		"ORDERS_OUTBOX_INTERVAL=20ms",
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
		if os.Getenv("ORDERS_TEST_LOG") != "" {
			t.Logf("the order system's log:\n%s", p.log)
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
	// Both servers log the same line (and both serve /readyz); the
	// operations server is the one with /metrics.
	p.api, p.ops = found[0], found[1]
	if status(t, p.api+"/metrics") == http.StatusOK {
		p.api, p.ops = p.ops, p.api
	}
	deadline := time.Now().Add(waitTimeout)
	for status(t, p.ops+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the order system is not ready after %v; its log:\n%s", waitTimeout, p.log)
		}
		time.Sleep(20 * time.Millisecond) // polling readiness, as a load balancer does
	}
	return p
}

// testPostgres returns the URL of a schema of its own in the database of
// DATABASE_URL, dropped when the test ends, and skips the test when
// DATABASE_URL is not set.
func testPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Skip("DATABASE_URL not set: PostgreSQL tests skipped")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema := "loadgen_test_" + strings.ToLower(rand.Text()[:10])
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("DATABASE_URL is set but PostgreSQL is unusable: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends it as a run-time parameter
	u.RawQuery = q.Encode()
	return u.String()
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
func status(t *testing.T, url string) int {
	t.Helper()
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

// writableDB opens the order system's SQLite file for the test to inject
// faults.
func writableDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
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
