package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// figures are the throughput and latency of one measurement.
type figures struct {
	perSec   float64
	p50, p99 time.Duration
	n        int
	errors   int
}

// The order's transaction, as POST /orders with an Idempotency-Key writes
// it (store.createIdempotent and claimKey): an expired key deleted, the
// key claimed, the order, its item and its outbox row inserted. The values
// are the size of loadgen's orders.
const (
	sqlDeleteKey = `DELETE FROM idempotency_keys WHERE idem_key = $1 AND created_at < $2`
	sqlClaimKey  = `INSERT INTO idempotency_keys (idem_key, request_hash, order_id, status, location, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING`
	sqlOrder = `INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`
	sqlItem = `INSERT INTO order_items (order_id, line, sku, qty, price_cents)
		VALUES ($1, $2, $3, $4, $5)`
	sqlOutbox = `INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES ($1, $2, $3, $4)`

	requestHash = "9f2c4be1d07a6f3e8b5c2a1d4e7f0a3b6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f"
	orderBody   = `{"id":"%s","customer":"bench","status":"created","items":[{"sku":"BOOK-1","qty":2,"price_cents":1250}],"total_cents":2500,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	eventBody   = `{"order_id":"%s","status":"created","customer":"bench","total_cents":2500,"time":"2026-01-01T00:00:00Z"}`
)

// ceiling drives the order's transaction straight at db, without HTTP, and
// returns its figures. On PostgreSQL, oneStatement runs it as the one
// statement the order system sends (createOrderPG), the tuned form;
// otherwise as the transaction's statements, BEGIN … COMMIT, the form
// issue 11 measured its limit with. SQLite has the statements form only.
func (e *env) ceiling(ctx context.Context, db database, oneStatement bool) (figures, error) {
	if db.kind == "postgres" {
		return e.pgbench(ctx, db, oneStatement)
	}
	return e.sqliteLoop(ctx, db)
}

// sqliteLoop runs the transaction from -c goroutines on database/sql, with
// the order system's DSN, for -d.
func (e *env) sqliteLoop(ctx context.Context, db database) (figures, error) {
	pool, err := db.open()
	if err != nil {
		return figures{}, err
	}
	defer pool.Close()
	pool.SetMaxOpenConns(e.cfg.sqliteConns)
	pool.SetMaxIdleConns(e.cfg.sqliteConns)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		wg        sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(e.cfg.d)
	for range e.cfg.c {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if err := createTx(ctx, pool); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	f := summarize(latencies, time.Since(start))
	f.errors = failures
	return f, ctx.Err()
}

// createTx is the order's transaction on database/sql.
func createTx(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id := "ord_" + strings.ToLower(rand.Text())
	now := time.Now().UnixMilli()
	steps := []struct {
		query string
		args  []any
	}{
		{sqlDeleteKey, []any{"key-" + id, now - 86400000}},
		{sqlClaimKey, []any{"key-" + id, requestHash, id, 201, "/orders/" + id, fmt.Sprintf(orderBody, id), now}},
		{sqlOrder, []any{id, "bench", "created", 2500, now}},
		{sqlItem, []any{id, 1, "BOOK-1", 2, 1250}},
		{sqlOutbox, []any{"orders.created", id, fmt.Sprintf(eventBody, id), now}},
	}
	for _, s := range steps {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// createOrderPG is the statement the order system sends on PostgreSQL for
// the same transaction (a copy of createOrderPG in ../createpg.go).
const createOrderPG = `WITH key AS (
	INSERT INTO idempotency_keys (idem_key, request_hash, order_id, status, location, body, created_at)
	SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $1::text IS NOT NULL
	ON CONFLICT (idem_key) DO UPDATE SET request_hash = EXCLUDED.request_hash, order_id = EXCLUDED.order_id,
		status = EXCLUDED.status, location = EXCLUDED.location, body = EXCLUDED.body, created_at = EXCLUDED.created_at
		WHERE idempotency_keys.created_at < $8
	RETURNING 1
), o AS (
	INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
	SELECT $3, $9, $10, $11, $7, $7 WHERE $1::text IS NULL OR EXISTS (SELECT 1 FROM key)
	RETURNING id
), items AS (
	INSERT INTO order_items (order_id, line, sku, qty, price_cents)
	SELECT o.id, i.line, i.sku, i.qty, i.price_cents
	FROM o, unnest($12::integer[], $13::text[], $14::bigint[], $15::bigint[]) AS i (line, sku, qty, price_cents)
)
INSERT INTO outbox (topic, msg_key, payload, created_at)
SELECT $16, o.id, $17, $7 FROM o
RETURNING 1`

// pgbenchScript is the transaction for pgbench, with random IDs: the
// order system's one statement, or the seven round trips of the same
// transaction in separate statements (what the order system sent before,
// and still sends on SQLite).
func pgbenchScript(oneStatement bool) string {
	if oneStatement {
		return pgbenchSingle()
	}
	id := `'ord_' || :id`
	now := "CAST(:now AS bigint)" // in prepared mode, a bare :now would be typed integer
	pg := func(q string, args ...string) string {
		q = strings.Join(strings.Fields(q), " ")
		for i := len(args); i >= 1; i-- {
			q = strings.ReplaceAll(q, "$"+strconv.Itoa(i), args[i-1])
		}
		return q + ";\n"
	}
	body := func(tmpl string) string {
		open, rest, _ := strings.Cut(tmpl, "%s")
		return "'" + open + "' || " + id + " || '" + rest + "'"
	}
	return "\\set id random(1, 9000000000000000)\n" +
		"\\set now 1767225600000\n" +
		"BEGIN;\n" +
		pg(sqlDeleteKey, `'key-' || `+id, now+" - 86400000") +
		pg(sqlClaimKey, `'key-' || `+id, "'"+requestHash+"'", id, "201", `'/orders/' || `+id, body(orderBody), now) +
		pg(sqlOrder, id, "'bench'", "'created'", "2500", now) +
		pg(sqlItem, id, "1", "'BOOK-1'", "2", "1250") +
		pg(sqlOutbox, "'orders.created'", id, body(eventBody), now) +
		"END;\n"
}

// pgbenchSingle is createOrderPG for pgbench.
func pgbenchSingle() string {
	id := `'ord_' || :id`
	now := "CAST(:now AS bigint)"
	body := func(tmpl string) string {
		open, rest, _ := strings.Cut(tmpl, "%s")
		return "'" + open + "' || " + id + " || '" + rest + "'"
	}
	args := []string{`'key-' || ` + id, "'" + requestHash + "'", id, "201", `'/orders/' || ` + id, body(orderBody), now,
		now + " - 86400000", "'bench'", "'created'", "2500", "'{1}'", "'{BOOK-1}'", "'{2}'", "'{1250}'",
		"'orders.created'", body(eventBody)}
	q := strings.Join(strings.Fields(createOrderPG), " ")
	for i := len(args); i >= 1; i-- {
		q = strings.ReplaceAll(q, "$"+strconv.Itoa(i), args[i-1])
	}
	return "\\set id random(1, 9000000000000000)\n\\set now 1767225600000\n" + q + ";\n"
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs the transaction (see pgbenchScript) with pgbench -c
// clients for -d, prepared statements like pgx's, and reads each
// transaction's latency from its log.
func (e *env) pgbench(ctx context.Context, db database, oneStatement bool) (figures, error) {
	e.seq++
	script := filepath.Join(e.dir, fmt.Sprintf("order-%d.sql", e.seq))
	if err := os.WriteFile(script, []byte(pgbenchScript(oneStatement)), 0o644); err != nil {
		return figures{}, err
	}
	prefix := filepath.Join(e.dir, fmt.Sprintf("pgbench-%d", e.seq))
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", "prepared", "-c", strconv.Itoa(e.cfg.c), "-j", "2",
		"-T", strconv.Itoa(max(1, int(e.cfg.d.Seconds()))), "-f", script, "-l", "--log-prefix", prefix, db.url)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return figures{}, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return figures{}, fmt.Errorf("pgbench: no tps in its output:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	logs, _ := filepath.Glob(prefix + ".*")
	var latencies []time.Duration
	for _, path := range logs {
		l, err := readPgbenchLog(path)
		if err != nil {
			return figures{}, err
		}
		latencies = append(latencies, l...)
	}
	f := summarize(latencies, e.cfg.d)
	f.perSec = tps
	return f, nil
}

// readPgbenchLog reads the latency of each transaction, the third field
// of each line in microseconds ("client tx latency script epoch us").
func readPgbenchLog(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var latencies []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
			latencies = append(latencies, time.Duration(us)*time.Microsecond)
		}
	}
	return latencies, sc.Err()
}
