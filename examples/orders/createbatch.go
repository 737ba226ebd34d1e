package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// maxCreateBatch bounds the orders created by one statement.
const maxCreateBatch = 64

// createBatches is how many statements of createOrdersPG may run at once,
// each on a connection of the API's pool; while they run, the next batch
// gathers the requests that arrive. One beat two and four (bench, 16
// clients: 5–10 % more orders per second, a lower p99): the fewer the
// statements, the larger each batch and the less CPU per order, on a
// machine whose cores are the limit.
const createBatches = 1

// createOrdersPG creates a batch of orders in one statement: the
// Idempotency-Keys claimed (expired ones taken over), then, for each
// request whose key was claimed or which has none, its order, its items
// and its orders.created event. It returns the IDs of the orders created;
// a request missing from them found its key held by an earlier one.
//
// It is createOrderPG for many requests: one round trip and one commit for
// all, where the two cores were spent on the round trips and commits, not
// on the rows. The keys are claimed in key order, so that two batches
// waiting for each other's keys cannot deadlock; a batch never holds one
// key twice (createBatcher.take), which ON CONFLICT DO UPDATE refuses.
// An empty key is none: a real one has 1 to 255 characters.
const createOrdersPG = `WITH r AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[],
		$7::text[], $8::bigint[], $9::bigint[], $10::text[])
		AS r (idem_key, request_hash, id, status, location, body, customer, total_cents, created_at, payload)
), key AS (
	INSERT INTO idempotency_keys (idem_key, request_hash, order_id, status, location, body, created_at)
	SELECT idem_key, request_hash, id, status, location, body, created_at FROM r WHERE idem_key <> '' ORDER BY idem_key
	ON CONFLICT (idem_key) DO UPDATE SET request_hash = EXCLUDED.request_hash, order_id = EXCLUDED.order_id,
		status = EXCLUDED.status, location = EXCLUDED.location, body = EXCLUDED.body, created_at = EXCLUDED.created_at
		WHERE idempotency_keys.created_at < EXCLUDED.created_at - $11
	RETURNING order_id
), o AS (
	INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
	SELECT id, customer, $12, total_cents, created_at, created_at FROM r
	WHERE idem_key = '' OR id IN (SELECT order_id FROM key)
	RETURNING id
), items AS (
	INSERT INTO order_items (order_id, line, sku, qty, price_cents)
	SELECT i.order_id, i.line, i.sku, i.qty, i.price_cents
	FROM unnest($13::text[], $14::integer[], $15::text[], $16::bigint[], $17::bigint[]) AS i (order_id, line, sku, qty, price_cents)
	WHERE i.order_id IN (SELECT id FROM o)
), events AS (
	INSERT INTO outbox (topic, msg_key, payload, created_at)
	SELECT $18, id, payload, created_at FROM r WHERE id IN (SELECT id FROM o)
)
SELECT id FROM o`

// createBatcher is group commit for the creates of the API on PostgreSQL:
// the requests that arrive while a batch is being written are written
// together by the next, in one statement (createOrdersPG), each still
// getting its own outcome. A statement the server refuses (a constraint
// one order breaks) is not the others' fault: each of its requests is
// then written alone (createOrderPG), and gets its own error. A failure
// of the connection or the server is every request's, as it was when
// each sent its own statement: none of the batch was committed.
//
// Up to createBatches statements run at once, on goroutines started when
// requests wait and none is free, which return once the queue is empty:
// an idle batcher holds nothing. Its zero value is ready to use; its
// methods are safe for concurrent use.
type createBatcher struct {
	mu      sync.Mutex
	queue   []*createReq // oldest first
	running int          // goroutines writing batches

	pending atomic.Int64  // requests submitted and not yet answered
	batches atomic.Uint64 // statements of createOrdersPG run
	alone   atomic.Uint64 // requests written alone after their batch was refused
}

// createReq is one order waiting to be written.
type createReq struct {
	ctx     context.Context
	o       order
	idem    *idempotency // nil for none
	res     createResponse
	payload string       // its orders.created event
	state   atomic.Int32 // reqQueued → reqRunning, or → reqAbandoned by its caller (see writer.go)
	done    chan createOutcome
}

// createOutcome is what the batch did with one request.
type createOutcome struct {
	created bool  // false and no error: its key is held by an earlier request
	err     error // the batch's error
	alone   bool  // the server refused the batch: write this one alone
}

// prepare makes req ready to be queued.
func (r *createReq) prepare() {
	r.state.Store(reqQueued)
	r.done = make(chan createOutcome, 1)
}

// ttl is the request's key's lifetime, which its batch shares.
func (r *createReq) ttl() time.Duration {
	if r.idem == nil || r.idem.ttl <= 0 {
		return defaultIdempotencyTTL
	}
	return r.idem.ttl
}

// create writes req with the next batch of s's store and returns its
// outcome, or ctx's error if ctx ends while req is still queued. Once its
// batch has started, create waits for it: the batch is bounded by the
// latest deadline of its requests.
func (b *createBatcher) create(s *store, req *createReq) (created bool, err error) {
	b.pending.Add(1)
	defer b.pending.Add(-1)
	if b.enqueue(req) {
		go b.work(s)
	}
	var out createOutcome
	select {
	case out = <-req.done:
	case <-req.ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return false, req.ctx.Err()
		}
		out = <-req.done
	}
	return b.finish(s, req, out)
}

// finish returns req's outcome, writing it alone when its batch was
// refused.
func (b *createBatcher) finish(s *store, req *createReq, out createOutcome) (created bool, err error) {
	if out.alone {
		b.alone.Add(1)
		return s.createOne(req)
	}
	return out.created, out.err
}

// enqueue queues req and reports whether the caller must start a
// goroutine to work (see work): none is free and fewer than createBatches
// are running.
func (b *createBatcher) enqueue(req *createReq) (spawn bool) {
	req.prepare()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, req)
	spawn = b.running < createBatches
	if spawn {
		b.running++
	}
	return spawn
}

// work writes batches until the queue is empty.
func (b *createBatcher) work(s *store) {
	for {
		batch := b.take()
		if len(batch) == 0 {
			return
		}
		b.write(s, batch)
	}
}

// take removes up to maxCreateBatch queued requests, oldest first, and
// marks them running; when none is left, it counts the calling goroutine
// out. It leaves queued, for a later batch, a request whose key is
// already in the batch (ON CONFLICT cannot claim a key twice in one
// statement; the later request will find it held, as it must) or whose
// key lives longer or shorter than the batch's. Abandoned requests are
// dropped.
func (b *createBatcher) take() []*createReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	var (
		batch []*createReq
		keys  map[string]bool
		ttl   time.Duration
		left  = b.queue[:0]
	)
	for _, r := range b.queue {
		if len(batch) == maxCreateBatch {
			left = append(left, r)
			continue
		}
		if r.idem != nil {
			if keys[r.idem.key] || len(keys) > 0 && r.ttl() != ttl {
				left = append(left, r)
				continue
			}
		}
		if !r.state.CompareAndSwap(reqQueued, reqRunning) {
			continue // abandoned
		}
		if r.idem != nil {
			if keys == nil {
				keys, ttl = map[string]bool{}, r.ttl()
			}
			keys[r.idem.key] = true
		}
		batch = append(batch, r)
	}
	clear(b.queue[len(left):])
	b.queue = left
	if len(batch) == 0 {
		b.running--
	}
	return batch
}

// write runs createOrdersPG for batch and sends each request its outcome.
func (b *createBatcher) write(s *store, batch []*createReq) {
	b.batches.Add(1)
	ctx, cancel := batchContext(batch)
	defer cancel()
	created, err := s.insertBatch(ctx, batch)
	// A refusal by the server, of a batch of several: find whose.
	var pgErr *pgconn.PgError
	alone := err != nil && len(batch) > 1 && errors.As(err, &pgErr) && !dbUnavailable(err)
	for _, r := range batch {
		r.done <- createOutcome{created: created[r.o.ID], err: err, alone: alone}
	}
}

// batchContext returns the context of a batch's statement: no request's
// cancellation may roll back the others', so it is bounded by the latest
// deadline of its requests only.
func batchContext(batch []*createReq) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range batch {
		d, ok := r.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// insertBatch runs createOrdersPG for batch and returns the IDs of the
// orders it created.
func (s *store) insertBatch(ctx context.Context, batch []*createReq) (map[string]bool, error) {
	n := len(batch)
	var (
		keys, hashes, ids, locations = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bodies, customers, payloads  = make([]string, n), make([]string, n), make([]string, n)
		statuses                     = make([]int32, n)
		totals, times                = make([]int64, n), make([]int64, n)
		itemIDs, skus                []string
		lines                        []int32
		qtys, prices                 []int64
	)
	for i, r := range batch {
		if r.idem != nil {
			keys[i], hashes[i] = r.idem.key, r.idem.hash
		}
		ids[i], statuses[i], locations[i], bodies[i] = r.o.ID, int32(r.res.status), r.res.location, string(r.res.body)
		customers[i], totals[i], times[i], payloads[i] = r.o.Customer, r.o.TotalCents, r.o.CreatedAt.UnixMilli(), r.payload
		for j, it := range r.o.Items {
			itemIDs, lines, skus = append(itemIDs, r.o.ID), append(lines, int32(j+1)), append(skus, it.SKU)
			qtys, prices = append(qtys, int64(it.Qty)), append(prices, it.PriceCents)
		}
	}
	rows, err := s.db.QueryContext(ctx, createOrdersPG,
		keys, hashes, ids, statuses, locations, bodies, customers, totals, times, payloads,
		batchTTL(batch).Milliseconds(), statusCreated,
		itemIDs, lines, skus, qtys, prices, s.topics.status(statusCreated))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	created := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		created[id] = true
	}
	return created, rows.Err()
}

// batchTTL is the lifetime of the keys of batch, which take made one.
func batchTTL(batch []*createReq) time.Duration {
	for _, r := range batch {
		if r.idem != nil {
			return r.ttl()
		}
	}
	return defaultIdempotencyTTL
}
