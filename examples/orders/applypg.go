package main

import (
	"context"
	"fmt"
	"time"
)

// applyOrdersPG moves a batch of orders along one transition in one
// statement, with their events: $1 the IDs; $2 the new status,
// $3 the time (Unix ms), $4 the status they must be in, $5 the topic of
// the events, $6 the time as the events' JSON has it. It returns the IDs
// moved, with missing false, or, when an ID names no order, that ID with
// missing true and nothing moved: one unknown order fails the batch, as a
// transaction rolled back would.
//
// One round trip for the batch, where the statements of applyTx are two
// per order and a BEGIN and a COMMIT: the pipeline's share of the cores
// went to the round trips. The event is built by PostgreSQL from the row
// it updates, as applyTx builds it from the row's RETURNING: the same JSON
// object, spaced differently. The UPDATE re-checks the status of a row
// that another transaction changed meanwhile, so an order that moved on
// is left alone, as in applyTx.
//
// Each order is looked up by its ID's index, whatever the batch's size:
// a join with the IDs, or NOT EXISTS, lets the plan PostgreSQL settles
// on for a prepared statement hash the whole table instead, which cost
// more than everything else the pipeline asks of it. For the same reason
// the status is compared as an expression (the status joined to an empty
// string), which no index serves: the statistics say few orders are in
// the status the batch moves them from, so the planner would rather scan
// that status in orders_by_status_change, but that index also holds an
// entry for every version of every order that has left the status since
// the last vacuum, and a bitmap scan reads them all, each time (600 to
// 1,600 an order under load, up to 9,000 a statement), where the ID's
// index reads one entry an order.
//
// It stays a statement prepared once per connection: planned at each
// execution instead, it cost 0.4 ms more a batch (pgbench -M extended
// against -M prepared: 0.49-0.67 ms against 0.11-0.14), about a sixth of
// PostgreSQL's CPU per order (two batches of about eight an order). The
// plan PostgreSQL caches is made with the statistics of its moment: on a
// new database, made while orders was nearly empty, it reads the table
// sequentially until the first ANALYZE (autovacuum's, within a minute or
// two) makes PostgreSQL plan it again.
const applyOrdersPG = `WITH missing AS (
	SELECT ids.id FROM unnest($1::text[]) AS ids (id)
	WHERE (SELECT o.id FROM orders o WHERE o.id = ids.id) IS NULL LIMIT 1
), moved AS (
	UPDATE orders SET status = $2, updated_at = $3
	WHERE id = ANY($1) AND status || '' = $4 AND NOT EXISTS (SELECT 1 FROM missing)
	RETURNING id, customer, total_cents
), events AS (
	INSERT INTO outbox (topic, msg_key, payload, created_at)
	SELECT $5, id, json_build_object('order_id', id, 'status', $2::text, 'customer', customer,
		'total_cents', total_cents, 'time', $6::text)::text, $3
	FROM moved
)
SELECT id, false FROM moved
UNION ALL
SELECT id, true FROM missing`

// applyAllPG is applyAll on PostgreSQL, in one statement (applyOrdersPG).
// An ID given twice (a message delivered twice in one batch) is moved
// once, as an UPDATE updates a row once; its
// second outcome is what applyTx would have found then: the order already
// moved on.
func (s *store) applyAllPG(ctx context.Context, ids []string, t transition, now time.Time) ([]outcome, error) {
	rows, err := s.db.QueryContext(ctx, applyOrdersPG, ids, t.to, now.UnixMilli(), t.from,
		s.topics.status(t.to), now.Format(time.RFC3339Nano))
	if err != nil {
		return nil, fmt.Errorf("orders: %d orders: %s → %s: %w", len(ids), t.from, t.to, err)
	}
	defer rows.Close()
	moved := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		var missing bool
		if err := rows.Scan(&id, &missing); err != nil {
			return nil, err
		}
		if missing {
			return nil, fmt.Errorf("orders: order %s: %s → %s: %w", id, t.from, t.to, errNotFound)
		}
		moved[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: %d orders: %s → %s: %w", len(ids), t.from, t.to, err)
	}
	current, err := s.statusesOf(ctx, ids, moved)
	if err != nil {
		return nil, err
	}
	res := make([]outcome, len(ids))
	first := make(map[string]bool, len(ids)) // IDs whose first message was seen
	for i, id := range ids {
		switch {
		case moved[id] && !first[id]:
			res[i] = outcome{applied: true, current: t.to}
		case moved[id]:
			res[i] = outcome{current: t.to}
		default:
			res[i] = outcome{current: current[id]}
		}
		first[id] = true
	}
	return res, nil
}

// statusesOf returns the current status of the orders of ids that are not
// in moved: those a transition left alone, because they had moved on. It
// reads them after the transition, as applyTx does, so that it sees what
// moved them.
func (s *store) statusesOf(ctx context.Context, ids []string, moved map[string]bool) (map[string]status, error) {
	var left []string
	for _, id := range ids {
		if !moved[id] {
			left = append(left, id)
		}
	}
	if len(left) == 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, status FROM orders WHERE id = ANY($1)`, left)
	if err != nil {
		return nil, fmt.Errorf("orders: read the status of %d orders: %w", len(left), err)
	}
	defer rows.Close()
	current := make(map[string]status, len(left))
	for rows.Next() {
		var id string
		var st status
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		current[id] = st
	}
	return current, rows.Err()
}
