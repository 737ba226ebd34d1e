package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// lane is who a writing transaction works for, which decides its place in
// the writer's queue.
type lane int

const (
	// laneAPI: the public API's writes (create, cancel), one per request.
	laneAPI lane = iota
	// lanePipeline: the relay's, the consumers' and the cron jobs'
	// writes, which move orders along and drain the outbox.
	lanePipeline
	lanes
)

func (l lane) String() string {
	if l == lanePipeline {
		return "pipeline"
	}
	return "api"
}

// maxGroup bounds the transactions committed together.
const maxGroup = 128

// writer runs the writing transactions of this process on an SQLite file,
// on one connection of its own, committing those that queue meanwhile
// together: group commit, as PostgreSQL does for its backends.
//
// SQLite runs one writer at a time, and every commit waits for the disk
// (fsync), so a transaction per commit caps the system at the disk's
// flushes per second, and each order takes three (created, paid, shipped).
// And its busy handler is not a queue: a writer that finds the lock taken
// sleeps (1, 2, 5, … up to 100 ms) and tries again, so one arriving just as
// the lock is freed wins over one that has waited for seconds. Under a herd
// of creates the relay and the consumers lost again and again, and nothing
// was paid for seconds, while the sleeps left the lock idle and cost the
// API its tail latency.
//
// The writer takes the queued transactions, the pipeline's first, each
// lane in order of arrival, runs each in a savepoint of one SQLite
// transaction, and commits them at once: one that fails is rolled back to
// its savepoint alone, and gets its error; a failed commit fails them all.
// The pipeline goes first because its writes are what turns an order into
// a shipment, and they are bounded by the orders the API has taken, so
// they cannot starve the API.
//
// A transaction's function runs with its caller's context values but not
// its cancellation: interrupting a statement would roll back the whole
// group. Waiting in the queue honours the context, unlike busy_timeout.
// Other processes on the same file still meet at SQLite's lock, which the
// writer waits for as before.
type writer struct {
	db   *sql.DB // one connection
	bell *doorbell

	mu     sync.Mutex
	queues [lanes][]*writeReq // oldest first
	closed bool

	done chan struct{} // closed when the loop has returned

	commits atomic.Uint64        // groups committed or failed
	txs     [lanes]atomic.Uint64 // transactions run, by lane
}

// writeReq is one queued transaction.
type writeReq struct {
	ctx    context.Context
	fn     func(ctx context.Context, tx *sql.Tx) error
	state  atomic.Int32 // reqQueued → reqRunning, or → reqAbandoned by its caller
	result chan error   // buffered: the loop never waits for the caller
}

const (
	reqQueued int32 = iota
	reqRunning
	reqAbandoned
)

// errWriterClosed is returned for transactions sent after close.
var errWriterClosed = errors.New("orders: the database writer is closed")

// newWriter starts the writer on db, which it limits to one connection.
// Call close to stop it.
func newWriter(db *sql.DB) *writer {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	w := &writer{db: db, bell: newDoorbell(), done: make(chan struct{})}
	go w.loop()
	return w
}

// do runs fn in a transaction of the next group and returns its error, or
// the group's commit error, or ctx's error if ctx ends while fn is still
// queued. Once fn has started, do waits for the commit.
func (w *writer) do(ctx context.Context, l lane, fn func(ctx context.Context, tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, result: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errWriterClosed
	}
	w.queues[l] = append(w.queues[l], req)
	w.mu.Unlock()
	w.bell.ring()
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err() // the loop will skip it
		}
		return <-req.result // running: its outcome is coming
	}
}

// close fails the transactions still queued, waits for the group being
// committed and stops the loop. The caller closes the database.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.bell.ring()
	<-w.done
}

func (w *writer) loop() {
	defer close(w.done)
	for range w.bell.rung() {
		for {
			group, closed := w.take()
			if closed {
				for _, r := range group {
					r.result <- errWriterClosed
				}
				return
			}
			if len(group) == 0 {
				break
			}
			w.commit(group)
		}
	}
}

// take removes up to maxGroup queued transactions, the pipeline's first,
// and marks them running; abandoned ones are dropped.
func (w *writer) take() (group []*writeReq, closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for l := lanes - 1; l >= 0 && len(group) < maxGroup; l-- {
		q := w.queues[l]
		n := 0
		for n < len(q) && len(group) < maxGroup {
			if r := q[n]; r.state.CompareAndSwap(reqQueued, reqRunning) {
				group = append(group, r)
				w.txs[l].Add(1)
			}
			n++
		}
		w.queues[l] = q[n:]
	}
	if w.closed {
		for l := range lanes {
			for _, r := range w.queues[l] {
				if r.state.CompareAndSwap(reqQueued, reqRunning) {
					group = append(group, r)
				}
			}
			w.queues[l] = nil
		}
	}
	return group, w.closed
}

// commit runs group in one transaction, each in a savepoint, and sends
// each its outcome.
func (w *writer) commit(group []*writeReq) {
	w.commits.Add(1)
	results := make([]error, len(group))
	err := w.run(group, results)
	for i, r := range group {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		r.result <- results[i]
	}
}

func (w *writer) run(group []*writeReq, results []error) error {
	// The group's context: no caller's cancellation may roll it back.
	bg := context.Background()
	tx, err := w.db.BeginTx(bg, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	for i, r := range group {
		if _, err := tx.ExecContext(bg, `SAVEPOINT one`); err != nil {
			return err
		}
		results[i] = r.fn(context.WithoutCancel(r.ctx), tx)
		end := `RELEASE one`
		if results[i] != nil {
			end = `ROLLBACK TO one; RELEASE one`
		}
		if _, err := tx.ExecContext(bg, end); err != nil {
			// SQLite rolled the whole transaction back (a full disk, say).
			return fmt.Errorf("orders: group commit: %w", err)
		}
	}
	return tx.Commit()
}

// waiting returns how many transactions of lane l are queued now.
func (w *writer) waiting(l lane) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queues[l])
}
