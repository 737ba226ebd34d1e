package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// testWriter returns a writer on a new SQLite file with a table t(v).
func testWriter(t *testing.T) (*writer, *sql.DB) {
	t.Helper()
	cfg := testConfig(t)
	db := openTestDB(t, cfg)
	if _, err := db.Exec(`CREATE TABLE t (v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	wdb, _, err := dialDB(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(wdb)
	t.Cleanup(func() { w.close(); wdb.Close() })
	return w, db
}

// holdWriter makes w run a transaction that waits until the returned
// function is called, so that the transactions sent meanwhile queue.
func holdWriter(t *testing.T, w *writer) (release func()) {
	t.Helper()
	running, held := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- w.do(context.Background(), laneAPI, func(context.Context, *sql.Tx) error {
			close(running)
			<-held
			return nil
		})
	}()
	<-running
	return func() {
		close(held)
		if err := <-done; err != nil {
			t.Errorf("holding transaction: %v", err)
		}
	}
}

// queued sends a transaction recording name in order, once it runs, and
// waits until the writer has queued it.
func queued(t *testing.T, w *writer, wg *sync.WaitGroup, l lane, name string, mu *sync.Mutex, order *[]string) {
	t.Helper()
	before := w.waiting(l)
	wg.Go(func() {
		err := w.do(context.Background(), l, func(ctx context.Context, tx *sql.Tx) error {
			mu.Lock()
			*order = append(*order, name)
			mu.Unlock()
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	waitFor(t, name+" queued", func() bool { return w.waiting(l) > before })
}

// TestWriterPipelineFirst is the chaos suite's finding on SQLite: after a
// restart, a herd of creates kept the relay and the consumers from writing
// for seconds. Queued behind 50 of the API's transactions, the pipeline's
// runs first.
func TestWriterPipelineFirst(t *testing.T) {
	w, _ := testWriter(t)
	release := holdWriter(t, w)
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	for i := range 50 {
		queued(t, w, &wg, laneAPI, fmt.Sprintf("api-%d", i), &mu, &order)
	}
	queued(t, w, &wg, lanePipeline, "pipeline", &mu, &order)
	release()
	wg.Wait()
	if len(order) != 51 || order[0] != "pipeline" {
		t.Errorf("order of the transactions = %v, want the pipeline's first", order)
	}
}

// TestWriterGroupCommit checks that transactions queued while one commits
// are committed together, in order of arrival, and that one failing is
// rolled back alone.
func TestWriterGroupCommit(t *testing.T) {
	w, db := testWriter(t)
	release := holdWriter(t, w)
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	for i := range 10 {
		queued(t, w, &wg, laneAPI, fmt.Sprintf("tx-%d", i), &mu, &order)
	}
	failing := errors.New("this one fails")
	failed := make(chan error, 1)
	before := w.waiting(laneAPI)
	go func() {
		failed <- w.do(context.Background(), laneAPI, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('rolled back')`); err != nil {
				return err
			}
			return failing
		})
	}()
	waitFor(t, "the failing one queued", func() bool { return w.waiting(laneAPI) > before })
	queued(t, w, &wg, laneAPI, "after", &mu, &order)
	commits := w.commits.Load()
	release()
	wg.Wait()
	if err := <-failed; !errors.Is(err, failing) {
		t.Errorf("failing transaction = %v, want its own error", err)
	}
	if got := w.commits.Load() - commits; got != 1 {
		t.Errorf("%d groups committed for 12 queued transactions, want 1", got)
	}
	var rows, rolledBack int
	db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE v = 'rolled back') FROM t`).Scan(&rows, &rolledBack)
	if rows != 11 || rolledBack != 0 {
		t.Errorf("rows = %d (%d of the failed transaction), want 11 and 0", rows, rolledBack)
	}
	if order[0] != "tx-0" || order[10] != "after" {
		t.Errorf("order = %v, want the order of arrival", order)
	}
}

// TestWriterQueueHonoursContext checks that a transaction whose context
// ends while it waits returns the context's error and never runs.
func TestWriterQueueHonoursContext(t *testing.T) {
	w, db := testWriter(t)
	release := holdWriter(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.do(ctx, laneAPI, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('abandoned')`)
			return err
		})
	}()
	waitFor(t, "queued", func() bool { return w.waiting(laneAPI) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("do with its context cancelled while queued = %v, want context.Canceled", err)
	}
	release()
	if err := w.do(context.Background(), laneAPI, func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n)
	if n != 0 {
		t.Errorf("%d rows written by an abandoned transaction, want 0", n)
	}
	w.close()
	if err := w.do(context.Background(), laneAPI, func(context.Context, *sql.Tx) error { return nil }); !errors.Is(err, errWriterClosed) {
		t.Errorf("do after close = %v, want errWriterClosed", err)
	}
}
