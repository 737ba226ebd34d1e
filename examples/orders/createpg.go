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
//
// The API sends it for a request whose batch (createOrdersPG) the server
// refused, to find out whose fault that was.
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

// createPG stores o, its event and idem's key (nil for none) on
// PostgreSQL, in a batch with the creates of concurrent requests (see
// createBatcher), and returns the recorded response when the key is held
// by an earlier request (see claimKey for what that means).
func (s *store) createPG(ctx context.Context, o order, idem *idempotency, res createResponse, now time.Time) (recorded *createResponse, err error) {
	payload, err := json.Marshal(event{OrderID: o.ID, Status: o.Status, Customer: o.Customer, TotalCents: o.TotalCents, Time: now})
	if err != nil {
		return nil, err
	}
	req := &createReq{ctx: ctx, o: o, idem: idem, res: res, payload: string(payload)}
	created, err := s.creates.create(s, req)
	switch {
	case err != nil:
		return nil, err
	case created:
		return nil, nil
	case idem == nil:
		return nil, fmt.Errorf("order %s without an Idempotency-Key was not created", o.ID)
	}
	return s.recordedResponse(ctx, idem)
}

// createOne writes req alone, with createOrderPG, and reports whether it
// created the order (false: its key is held by an earlier request).
func (s *store) createOne(req *createReq) (created bool, err error) {
	var key, hash any // NULL without a key
	if req.idem != nil {
		key, hash = req.idem.key, req.idem.hash
	}
	o := req.o
	lines := make([]int32, len(o.Items))
	skus := make([]string, len(o.Items))
	qtys := make([]int64, len(o.Items))
	prices := make([]int64, len(o.Items))
	for i, it := range o.Items {
		lines[i], skus[i], qtys[i], prices[i] = int32(i+1), it.SKU, int64(it.Qty), it.PriceCents
	}
	now := o.CreatedAt
	var one int
	err = s.db.QueryRowContext(req.ctx, createOrderPG,
		key, hash, o.ID, req.res.status, req.res.location, string(req.res.body), now.UnixMilli(), now.Add(-req.ttl()).UnixMilli(),
		o.Customer, o.Status, o.TotalCents, lines, skus, qtys, prices,
		s.topics.status(o.Status), req.payload).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// recordedResponse returns the response recorded with idem's key, or a
// *keyReusedError when it was recorded for another request.
func (s *store) recordedResponse(ctx context.Context, idem *idempotency) (*createResponse, error) {
	prev := createResponse{replayed: true}
	var hash, body string
	err := s.db.QueryRowContext(ctx, `SELECT request_hash, order_id, status, location, body FROM idempotency_keys WHERE idem_key = $1`,
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
