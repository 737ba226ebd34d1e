package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// createOrderPG is the order's transaction on PostgreSQL in one statement:
// the Idempotency-Key claimed (an expired one taken over), then, only if
// it was claimed or there is none, the order, its items and its
// orders.created event. It returns one row when the order was created,
// none when the key is held by an earlier request.
//
// One statement is one round trip and its own transaction, where the
// transaction of store.createIdempotent (BEGIN, two statements for the
// key, one per row, COMMIT) is seven: the round trips, not the rows, were
// what the service spent its two cores on. The statements of a WITH see
// the same snapshot, and a unique-key conflict waits for the transaction
// holding the key, as the separate statements did; the foreign key from
// the items is checked at the end of the statement.
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

// createPG stores o, its event and idem's key (nil for none) with
// createOrderPG, and returns the recorded response when the key is held by
// an earlier request (see claimKey for what that means).
func (s *store) createPG(ctx context.Context, o order, idem *idempotency, res createResponse, now time.Time) (recorded *createResponse, err error) {
	payload, err := json.Marshal(event{OrderID: o.ID, Status: o.Status, Customer: o.Customer, TotalCents: o.TotalCents, Time: now})
	if err != nil {
		return nil, err
	}
	var key, hash any // NULL without a key
	expired := int64(0)
	if idem != nil {
		ttl := idem.ttl
		if ttl <= 0 {
			ttl = defaultIdempotencyTTL
		}
		key, hash, expired = idem.key, idem.hash, now.Add(-ttl).UnixMilli()
	}
	lines := make([]int32, len(o.Items))
	skus := make([]string, len(o.Items))
	qtys := make([]int64, len(o.Items))
	prices := make([]int64, len(o.Items))
	for i, it := range o.Items {
		lines[i], skus[i], qtys[i], prices[i] = int32(i+1), it.SKU, int64(it.Qty), it.PriceCents
	}
	var one int
	err = s.db.QueryRowContext(ctx, createOrderPG,
		key, hash, o.ID, res.status, res.location, string(res.body), now.UnixMilli(), expired,
		o.Customer, o.Status, o.TotalCents, lines, skus, qtys, prices,
		s.topics.status(o.Status), string(payload)).Scan(&one)
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) || idem == nil {
		return nil, err
	}
	prev := createResponse{replayed: true}
	var body string
	err = s.db.QueryRowContext(ctx, `SELECT request_hash, order_id, status, location, body FROM idempotency_keys WHERE idem_key = $1`,
		idem.key).Scan(&hash, &prev.orderID, &prev.status, &prev.location, &body)
	if err != nil {
		return nil, fmt.Errorf("read the response of %s %q: %w", headerIdempotencyKey, idem.key, err)
	}
	if hash != idem.hash {
		return nil, &keyReusedError{key: idem.key}
	}
	prev.body = []byte(body)
	return &prev, nil
}
