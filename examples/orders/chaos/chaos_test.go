//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBalancerSkipsRefusingBackends: connections go round-robin to the
// backends that accept them; a backend that refuses (a replica
// restarting) gets none, and every connection still gets an answer.
func TestBalancerSkipsRefusingBackends(t *testing.T) {
	var backends []string
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend %d", i)
		}))
		t.Cleanup(srv.Close)
		backends = append(backends, srv.Listener.Addr().String())
	}
	down, err := freeAddr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBalancer(backends[0], down, backends[1])
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	seen := map[string]int{}
	for range 12 {
		// A new connection each time: the balancer works per connection.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := client.Get(b.url())
		if err != nil {
			t.Fatalf("GET through the balancer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[string(body)]++
	}
	if seen["backend 0"] == 0 || seen["backend 1"] == 0 || seen["backend 0"]+seen["backend 1"] != 12 {
		t.Errorf("answers by backend = %v, want both backends and all 12 answered", seen)
	}
}

// TestBalancerCloseCutsConnections: close ends the connections in
// progress, so that a scenario ends without waiting for its clients.
func TestBalancerCloseCutsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // holds the connection, answers nothing
		}
	}()
	b, err := newBalancer(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(b.url(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b.close() // returns once every connection's goroutines are done
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the client's connection still open after close")
	}
}

// TestScrape sums a metric's samples over its label sets, or those with a
// label, and tells a missing metric from one without matching samples.
func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `# HELP orders_kafka_consumer_messages_total Messages.
# TYPE orders_kafka_consumer_messages_total counter
orders_kafka_consumer_messages_total{group="orders-payments",topic="orders.created"} 3
orders_kafka_consumer_messages_total{group="orders-shipping",topic="orders.paid"} 2
orders_kafka_consumer_messages_total_other 100
go_goroutines 42
`)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, label string
		want        float64
	}{
		{"orders_kafka_consumer_messages_total", "", 5},
		{"orders_kafka_consumer_messages_total", `orders-shipping"`, 2},
		{"orders_kafka_consumer_messages_total", `orders-nothing"`, 0},
		{"go_goroutines", "", 42},
	} {
		got, err := scrapeLabeled(srv.URL, tc.name, tc.label)
		if err != nil || got != tc.want {
			t.Errorf("scrapeLabeled(%s, %q) = %v, %v, want %v", tc.name, tc.label, got, err, tc.want)
		}
	}
	if _, err := scrape(srv.URL, "orders_missing_total"); err == nil || !strings.Contains(err.Error(), "no metric orders_missing_total") {
		t.Errorf("scrape of a missing metric: %v, want an error naming it", err)
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-short", "-run", "kill9|storm"}, io.Discard)
	if err != nil || !o.short || !o.only.MatchString("storm/sqlite") || o.only.MatchString("rolling") {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for args, want := range map[string]string{
		"-run (":  `chaos: invalid -run "(": `,
		"-v more": `chaos: unexpected arguments ["more"]`,
	} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("parseFlags(%s) = %v, want %q", args, err, want)
		}
	}
}

// TestScenarioNames: names are unique, and every PostgreSQL scenario says
// so, because the suite skips them where PostgreSQL cannot run.
func TestScenarioNames(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range scenarios() {
		if seen[sc.name] {
			t.Errorf("scenario %s twice", sc.name)
		}
		seen[sc.name] = true
		if strings.Contains(sc.name, "postgres") && !sc.postgres {
			t.Errorf("scenario %s runs on PostgreSQL but does not say so", sc.name)
		}
	}
	if len(seen) < 7 {
		t.Errorf("%d scenarios, want the 7 kinds at least", len(seen))
	}
}

// TestPostgresErrorLines counts the ERROR lines of a server log, and
// among them those that bad input caused.
func TestPostgresErrorLines(t *testing.T) {
	p := &postgres{dir: t.TempDir()}
	log := `2026-12-02 07:20:53 UTC [1] LOG:  database system is ready to accept connections
2026-12-02 07:20:54 UTC [2] ERROR:  invalid byte sequence for encoding "UTF8": 0x00
2026-12-02 07:20:54 UTC [2] STATEMENT:  INSERT INTO orders VALUES ($1)
2026-12-02 07:20:55 UTC [3] ERROR:  duplicate key value violates unique constraint "idempotency_pkey"
2026-12-02 07:20:56 UTC [4] ERROR:  invalid input syntax for type bigint: "x"
2026-12-02 07:20:57 UTC [5] FATAL:  terminating connection due to administrator command
`
	if err := os.WriteFile(p.logPath(), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if all, input := p.errorLines(); all != 3 || input != 2 {
		t.Errorf("errorLines = %d, %d, want 3 errors, 2 about input", all, input)
	}
}
