package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// envRunMain makes TestRunMain run the program's main, so that a test can
// run the order system as a process of its own and read all it logs.
const envRunMain = "ORDERS_TEST_RUN_MAIN"

// TestRunMain runs main when envRunMain is set, and is skipped otherwise.
func TestRunMain(t *testing.T) {
	if os.Getenv(envRunMain) == "" {
		t.Skip("runs main for TestDatabasePasswordIsNeverLogged only")
	}
	main()
}

// TestDatabasePasswordIsNeverLogged starts the order system with a
// DATABASE_URL whose password it can recognise, where the connection
// fails: a closed port, a URL that cannot be parsed, and, when
// DATABASE_URL is set, a real PostgreSQL refusing the password. The
// program exits 1, having logged why, and the password is in no line of
// its output. With a real PostgreSQL, the system also starts with the
// right password, takes an order, loses its database and finds it again,
// and shuts down, and the password is in none of its log lines either.
func TestDatabasePasswordIsNeverLogged(t *testing.T) {
	password := "pw-" + rand.Text()[:16]
	urls := map[string]string{
		"closed port": "postgres://orders:" + password + "@" + closedPort(t) + "/orders?sslmode=disable&connect_timeout=5",
		"bad port":    "postgres://orders:" + password + "@127.0.0.1:notaport/orders?sslmode=disable",
		"bad escape":  "postgres://orders:" + password + "%zz@127.0.0.1:5432/orders?sslmode=disable",
	}
	if base := os.Getenv(envDatabaseURL); base != "" {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("DATABASE_URL: %v", err)
		}
		u.User = url.UserPassword(u.User.Username(), password)
		urls["wrong password"] = u.String()
	}
	for name, dsn := range urls {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunMain$", "-test.count=1")
			cmd.Env = append(os.Environ(), envRunMain+"=1", envDatabaseURL+"="+dsn)
			out, err := cmd.CombinedOutput()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
				t.Fatalf("the order system exited with %v, want status 1; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), "orders: stopped with an error") {
				t.Errorf("output does not say why the system stopped:\n%s", out)
			}
			if strings.Contains(string(out), password) {
				t.Errorf("the password is in the output:\n%s", out)
			}
		})
	}
	t.Run("running", func(t *testing.T) {
		cfg := testConfig(t)
		password := rolePostgres(t, &cfg)
		proxy := newTCPProxy(t, postgresAddr(t))
		cfg.DatabaseURL = proxy.rewrite(t, cfg.DatabaseURL)
		var logs lockedBuffer
		cfg.Logger = jsonLogger(&logs)
		testKafka(t, &cfg)
		sys := start(t, cfg)
		o := createOrder(t, sys.url, "alice")
		waitForStatus(t, sys.url, o.ID, statusShipped)

		// The database goes away: requests fail with 503, and the
		// connection errors are logged.
		proxy.cut()
		if code := do(t, "GET", sys.url+"/orders/"+o.ID, nil, nil); code != http.StatusServiceUnavailable {
			t.Errorf("GET /orders/{id} while the database is away = %d, want 503", code)
		}
		proxy.restore()
		waitForStatus(t, sys.url, o.ID, statusShipped)

		if err := sys.stop(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"orders: database ready", "orders: database unavailable"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the system did not log %q:\n%s", want, logs.String())
			}
		}
		if strings.Contains(logs.String(), password) {
			t.Errorf("the password is in the logs:\n%s", logs.String())
		}
	})
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// rolePostgres sets cfg's DATABASE_URL to a role of its own, with a
// password no other string of the test contains, owning a schema of its
// own in the database of DATABASE_URL; both are dropped when the test
// ends. It returns the password, and skips the test when DATABASE_URL is
// not set or its user cannot create roles.
func rolePostgres(t *testing.T, cfg *config) string {
	t.Helper()
	base := os.Getenv(envDatabaseURL)
	if base == "" {
		t.Skip("DATABASE_URL not set: PostgreSQL tests skipped")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := "orders_secret_" + strings.ToLower(rand.Text()[:10])
	password := "pw-" + rand.Text()[:16]
	if _, err := db.Exec(`CREATE ROLE ` + name + ` LOGIN PASSWORD '` + password + `'`); err != nil {
		t.Skipf("DATABASE_URL's user cannot create a role: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + name + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		if _, err := db.Exec(`DROP ROLE ` + name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	if _, err := db.Exec(`CREATE SCHEMA ` + name + ` AUTHORIZATION ` + name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	u.User = url.UserPassword(name, password)
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	cfg.DatabaseURL = u.String()
	return password
}

// lockedBuffer is a bytes.Buffer that the system's goroutines can log to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// jsonLogger logs everything, debug included, to w as JSON lines.
func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestPublicReadinessHidesTheDatabaseError: with the database gone, both
// servers' /readyz fail naming the database check, but only the operations
// server's says why ("sql: database is closed"); the public API's answer
// holds names and statuses only.
func TestPublicReadinessHidesTheDatabaseError(t *testing.T) {
	cfg := testConfig(t)
	testKafka(t, &cfg)
	sys := start(t, cfg)
	sys.db.Close()
	for _, tt := range []struct {
		name, url string
		detail    bool
	}{{"operations", sys.opsURL, true}, {"public", sys.url, false}} {
		resp, err := http.Get(tt.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `{"name":"database","status":"fail"`) {
			t.Errorf("%s GET /readyz = %d %s, want 503 with the database check failing", tt.name, resp.StatusCode, body)
		}
		if got := strings.Contains(string(body), "database is closed"); got != tt.detail {
			t.Errorf("%s GET /readyz = %s: the database's error shown %v, want %v", tt.name, body, got, tt.detail)
		}
	}
	if err := sys.stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
