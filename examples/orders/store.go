package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// errNotFound is returned by the store's methods for an order ID that does
// not exist, or cannot exist (see validID).
var errNotFound = errors.New("orders: no such order")

// errRollback makes inTx roll back a transaction whose function found
// nothing to do.
var errRollback = errors.New("orders: rolled back")

// store keeps orders and the outbox in one database, PostgreSQL or SQLite,
// with the same SQL. Every change of an order writes its event to the
// outbox in the same transaction, so that the change and its announcement
// are committed, or lost, together.
//
// The API and the pipeline (relay, consumers, cron) each have a store of
// their own, on a pool of their own (see pools.go), sharing the writer and
// the doorbell: lane says whose writes a store makes.
type store struct {
	db       *sql.DB
	topics   topics
	redriven redriveCounts // orders re-driven by this process (see reconcile.go)

	postgres      bool      // claim outbox rows with row locks (see claimOutbox)
	writer        *writer   // SQLite: runs the writes, in groups, the pipeline's first; nil: s.db does
	lane          lane      // whose writes these are, for the writer
	outboxWritten *doorbell // rung after each commit that wrote the outbox; nil rings nothing

	creates createBatcher // PostgreSQL: the API's creates, written in batches
}

// createOrder stores a new order, from a valid request, and its
// orders.created event.
func (s *store) createOrder(ctx context.Context, req newOrderRequest) (order, error) {
	o, _, err := s.createIdempotent(ctx, req, nil)
	return o, err
}

// createIdempotent stores a new order, from a valid request, its
// orders.created event and, when idem is not nil, its Idempotency-Key
// (see claimKey), in one transaction: on PostgreSQL one statement, shared
// with concurrent requests (createBatcher), on SQLite one transaction of
// the writer. It returns the order and the response to answer. When the
// key is already recorded it creates nothing and returns a zero order and the recorded response, with replayed set,
// or a *keyReusedError.
func (s *store) createIdempotent(ctx context.Context, req newOrderRequest, idem *idempotency) (order, createResponse, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := order{
		ID:         newOrderID(),
		Customer:   strings.TrimSpace(req.Customer),
		Status:     statusCreated,
		Items:      make([]item, len(req.Items)),
		TotalCents: total(req.Items),
		CreatedAt:  now,
		UpdatedAt:  now,
	}
	for i, it := range req.Items {
		o.Items[i] = item{SKU: strings.TrimSpace(it.SKU), Qty: it.Qty, PriceCents: it.PriceCents}
	}
	body, err := json.Marshal(o)
	if err != nil {
		return order{}, createResponse{}, fmt.Errorf("orders: create order: %w", err)
	}
	res := createResponse{orderID: o.ID, status: http.StatusCreated, location: "/orders/" + o.ID, body: append(body, '\n')}
	var recorded *createResponse
	if s.postgres {
		recorded, err = s.createPG(ctx, o, idem, res, now)
	} else {
		err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return s.createTx(ctx, tx, o, idem, res, now, &recorded)
		})
	}
	if err == nil && recorded == nil {
		s.outboxWritten.ring()
	}
	switch {
	case recorded != nil:
		return order{}, *recorded, nil
	case err != nil:
		return order{}, createResponse{}, fmt.Errorf("orders: create order: %w", err)
	}
	return o, res, nil
}

// createTx is the order's transaction in separate statements, within tx:
// the key claimed (see claimKey), the order, its items and its event.
func (s *store) createTx(ctx context.Context, tx *sql.Tx, o order, idem *idempotency, res createResponse, now time.Time, recorded **createResponse) error {
	if idem != nil {
		var err error
		if *recorded, err = claimKey(ctx, tx, idem, res, now); err != nil {
			return err
		}
		if *recorded != nil {
			return errRollback
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, o.ID, o.Customer, o.Status, o.TotalCents, now.UnixMilli())
	if err != nil {
		return err
	}
	for i, it := range o.Items {
		_, err := tx.ExecContext(ctx, `INSERT INTO order_items (order_id, line, sku, qty, price_cents)
			VALUES ($1, $2, $3, $4, $5)`, o.ID, i+1, it.SKU, it.Qty, it.PriceCents)
		if err != nil {
			return err
		}
	}
	return s.enqueue(ctx, tx, event{OrderID: o.ID, Status: o.Status, Customer: o.Customer, TotalCents: o.TotalCents, Time: now})
}

// apply moves order id along t and writes the event of its new status to
// the outbox, in one transaction. The UPDATE is conditional (WHERE status
// = t.from): when the order is no longer in t.from, because t was already
// applied (a message delivered twice) or another transition won the race,
// nothing changes and apply returns false with the order's current status.
func (s *store) apply(ctx context.Context, id string, t transition) (applied bool, current status, err error) {
	res, err := s.applyAll(ctx, []string{id}, t)
	if err != nil {
		return false, "", err
	}
	return res[0].applied, res[0].current, nil
}

// outcome is the outcome of a transition of one order (see apply).
type outcome struct {
	applied bool
	current status
}

// applyAll applies t to each order of ids, as apply does, all in one
// transaction: one commit for a batch of Kafka messages, and on PostgreSQL
// one statement (applyAllPG). One order that does not exist fails them
// all, with errNotFound.
func (s *store) applyAll(ctx context.Context, ids []string, t transition) ([]outcome, error) {
	for _, id := range ids {
		if !validID(id) {
			return nil, fmt.Errorf("orders: order %q: %w", id, errNotFound)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if s.postgres && s.writer == nil {
		res, err := s.applyAllPG(ctx, ids, t, now)
		if err == nil && slices.ContainsFunc(res, func(r outcome) bool { return r.applied }) {
			s.outboxWritten.ring()
		}
		return res, err
	}
	res := make([]outcome, len(ids))
	var failed string
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, id := range ids {
			var err error
			if res[i], err = s.applyTx(ctx, tx, id, t, now); err != nil {
				failed = id
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orders: order %s: %s → %s: %w", failed, t.from, t.to, err)
	}
	for _, r := range res {
		if r.applied {
			s.outboxWritten.ring()
			break
		}
	}
	return res, nil
}

// applyTx applies t to order id within tx.
func (s *store) applyTx(ctx context.Context, tx *sql.Tx, id string, t transition, now time.Time) (outcome, error) {
	ev := event{OrderID: id, Status: t.to, Time: now}
	err := tx.QueryRowContext(ctx, `UPDATE orders SET status = $1, updated_at = $2
		WHERE id = $3 AND status = $4 RETURNING customer, total_cents`,
		t.to, now.UnixMilli(), id, t.from).Scan(&ev.Customer, &ev.TotalCents)
	if errors.Is(err, sql.ErrNoRows) {
		var current status
		err = tx.QueryRowContext(ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return outcome{}, errNotFound
		}
		return outcome{current: current}, err
	}
	if err != nil {
		return outcome{}, err
	}
	return outcome{applied: true, current: t.to}, s.enqueue(ctx, tx, ev)
}

// expireUnpaid moves the orders created before cutoff and still unpaid to
// expired, with their events, and returns their IDs. An order re-driven
// at or after redrivenBefore is left alone: its orders.created event was
// just published again (see reconcile.go), and the payment it brings must
// not be beaten by the expiry.
func (s *store) expireUnpaid(ctx context.Context, cutoff, redrivenBefore time.Time) ([]string, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE orders SET status = $1, updated_at = $2
			WHERE status = $3 AND created_at < $4 AND (redriven_at IS NULL OR redriven_at < $5)
			RETURNING id, customer, total_cents`,
			toExpired.to, now.UnixMilli(), toExpired.from, cutoff.UnixMilli(), redrivenBefore.UnixMilli())
		if err != nil {
			return err
		}
		var events []event
		for rows.Next() {
			ev := event{Status: toExpired.to, Time: now}
			if err := rows.Scan(&ev.OrderID, &ev.Customer, &ev.TotalCents); err != nil {
				rows.Close()
				return err
			}
			events = append(events, ev)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ev := range events {
			if err := s.enqueue(ctx, tx, ev); err != nil {
				return err
			}
			ids = append(ids, ev.OrderID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orders: expire unpaid orders: %w", err)
	}
	if len(ids) > 0 {
		s.outboxWritten.ring()
	}
	return ids, nil
}

// enqueue writes ev to the outbox, within tx.
func (s *store) enqueue(ctx context.Context, tx *sql.Tx, ev event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES ($1, $2, $3, $4)`,
		s.topics.status(ev.Status), ev.OrderID, string(payload), ev.Time.UnixMilli())
	return err
}

// getOrder returns the order id with its items, or errNotFound.
func (s *store) getOrder(ctx context.Context, id string) (order, error) {
	if !validID(id) {
		return order{}, errNotFound
	}
	orders, err := s.queryOrders(ctx, `WHERE id = $1`, id)
	if err != nil {
		return order{}, fmt.Errorf("orders: get order %s: %w", id, err)
	}
	if len(orders) == 0 {
		return order{}, errNotFound
	}
	return orders[0], nil
}

// recentOrders returns the limit most recently created orders, newest first.
func (s *store) recentOrders(ctx context.Context, limit int) ([]order, error) {
	orders, err := s.queryOrders(ctx, `ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("orders: list recent orders: %w", err)
	}
	return orders, nil
}

// queryOrders returns the orders selected by the clause (WHERE, ORDER BY,
// LIMIT) of a query on orders, in its order, each with its items.
func (s *store) queryOrders(ctx context.Context, clause string, args ...any) ([]order, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.customer, o.status, o.total_cents, o.created_at, o.updated_at,
			i.sku, i.qty, i.price_cents
		FROM (SELECT * FROM orders `+clause+`) o
		JOIN order_items i ON i.order_id = o.id
		ORDER BY o.seq DESC, i.line`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var orders []order
	for rows.Next() {
		var (
			o              order
			it             item
			created, moved int64
		)
		if err := rows.Scan(&o.ID, &o.Customer, &o.Status, &o.TotalCents, &created, &moved,
			&it.SKU, &it.Qty, &it.PriceCents); err != nil {
			return nil, err
		}
		if n := len(orders); n > 0 && orders[n-1].ID == o.ID {
			orders[n-1].Items = append(orders[n-1].Items, it)
			continue
		}
		o.CreatedAt, o.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(moved).UTC()
		o.Items = []item{it}
		orders = append(orders, o)
	}
	return orders, rows.Err()
}

// outboxRow is an event waiting in the outbox to be published.
type outboxRow struct {
	id      int64
	topic   string
	key     string
	payload []byte
}

// pendingOutbox returns up to limit unsent rows, oldest first.
func (s *store) pendingOutbox(ctx context.Context, limit int) ([]outboxRow, error) {
	return scanOutbox(s.db.QueryContext(ctx, `SELECT id, topic, msg_key, payload FROM outbox
		WHERE sent_at IS NULL ORDER BY id LIMIT $1`, limit))
}

// scanOutbox returns the outbox rows of a query returning id, topic,
// msg_key and payload, in the query's order, or the query's error.
func scanOutbox(rows *sql.Rows, err error) ([]outboxRow, error) {
	if err != nil {
		return nil, fmt.Errorf("orders: read outbox: %w", err)
	}
	defer rows.Close()
	var pending []outboxRow
	for rows.Next() {
		var r outboxRow
		var payload string
		if err := rows.Scan(&r.id, &r.topic, &r.key, &payload); err != nil {
			return nil, fmt.Errorf("orders: read outbox: %w", err)
		}
		r.payload = []byte(payload)
		pending = append(pending, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: read outbox: %w", err)
	}
	return pending, nil
}

// claimOutbox passes up to limit unsent rows, oldest first, to publish,
// marks them sent once publish has returned nil, and returns how many it
// marked.
//
// On PostgreSQL the rows are claimed and marked in one statement (an
// UPDATE of the rows SELECT … FOR UPDATE SKIP LOCKED picks, RETURNING
// them), in a transaction committed only once publish has returned nil
// and rolled back otherwise: no other transaction sees them sent before
// Kafka has acknowledged them, and the relays of replicas woken together
// publish different rows rather than the same ones twice; the row locks
// hold back no one else. That is three statements a batch (BEGIN, the
// claim, COMMIT), where claiming, then marking, took four. On SQLite,
// where a transaction held open for Kafka's round trip would hold back
// every writer, the rows are read, published, then marked.
func (s *store) claimOutbox(ctx context.Context, limit int, publish func([]outboxRow) error) (int, error) {
	if !s.postgres {
		rows, err := s.pendingOutbox(ctx, limit)
		if err != nil || len(rows) == 0 {
			return 0, err
		}
		if err := publish(rows); err != nil {
			return 0, err
		}
		return len(rows), s.markSent(ctx, outboxIDs(rows))
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("orders: claim outbox rows: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	rows, err := scanOutbox(tx.QueryContext(ctx, `UPDATE outbox SET sent_at = $1
		WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id, topic, msg_key, payload`, time.Now().UnixMilli(), limit))
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	// RETURNING follows no order: oldest first, so that a key's rows are
	// published in the order they were written.
	slices.SortFunc(rows, func(a, b outboxRow) int { return cmp.Compare(a.id, b.id) })
	if err := publish(rows); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("orders: mark %d outbox rows sent: %w", len(rows), err)
	}
	return len(rows), nil
}

func outboxIDs(rows []outboxRow) []int64 {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	return ids
}

// markSent records that the outbox rows ids were published.
func (s *store) markSent(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	query, args := markSentQuery(ids)
	if _, err := s.exec(ctx, query, args...); err != nil {
		return fmt.Errorf("orders: mark %d outbox rows sent: %w", len(ids), err)
	}
	return nil
}

// markSentQuery returns the UPDATE that marks the outbox rows ids sent now.
func markSentQuery(ids []int64) (string, []any) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, time.Now().UnixMilli())
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	return `UPDATE outbox SET sent_at = $1 WHERE id IN (` + strings.Join(marks, ", ") + `)`, args
}

// purgeSent deletes the outbox rows sent before cutoff, and returns how many.
func (s *store) purgeSent(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM outbox WHERE sent_at < $1`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("orders: purge sent outbox rows: %w", err)
	}
	return res.RowsAffected()
}

// inTx runs fn in a transaction, committed when fn returns nil: on SQLite
// through the writer, in a group with others (fn then gets a context that
// is not cancelled); elsewhere, on a connection of s's pool.
func (s *store) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.writer != nil {
		return s.writer.do(ctx, s.lane, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs one writing statement, through the writer on SQLite.
func (s *store) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	if s.writer == nil {
		return s.db.ExecContext(ctx, query, args...)
	}
	err = s.writer.do(ctx, s.lane, func(ctx context.Context, tx *sql.Tx) error {
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
