package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// headerIdempotencyKey is the request header that makes POST /orders
// idempotent. A client that does not know whether its order was created
// (a timeout, a reset connection, a crash of the server before the answer)
// sends the request again with the same key: it gets the response of the
// first request, status, Location and body, and no second order. The same
// key with a different request is refused with 422. A key is remembered
// for ORDERS_IDEMPOTENCY_TTL after its order was created; the purge job
// forgets it later, and until then an expired key counts as new. Keys are
// global, not per customer: clients should use random keys, such as
// UUIDs.
const headerIdempotencyKey = "Idempotency-Key"

// maxIdempotencyKeyLen bounds an Idempotency-Key, in bytes.
const maxIdempotencyKeyLen = 255

// defaultIdempotencyTTL is the default of ORDERS_IDEMPOTENCY_TTL: long
// enough for a client's retries, even after a day-long outage.
const defaultIdempotencyTTL = 24 * time.Hour

// badIdempotencyKey says what is wrong with an Idempotency-Key, or returns
// "" when it is absent or valid: 1 to 255 visible ASCII characters (no
// space, no control character).
func badIdempotencyKey(key string) string {
	if len(key) > maxIdempotencyKeyLen {
		return fmt.Sprintf("at most %d characters, got %d bytes", maxIdempotencyKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return fmt.Sprintf("only visible ASCII characters, got byte %#02x at %d", c, i)
		}
	}
	return ""
}

// idempotency is the Idempotency-Key of a request to create an order.
type idempotency struct {
	key  string
	hash string        // requestHash of the request
	ttl  time.Duration // 0 means defaultIdempotencyTTL
}

// requestHash returns what identifies a request to create an order for
// its Idempotency-Key: the SHA-256 of the request as decoded, re-encoded,
// so that spacing and the order of the JSON fields do not count.
func requestHash(req newOrderRequest) string {
	b, _ := json.Marshal(req) // cannot fail: strings and integers
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keyReusedError is returned by createOrder when the Idempotency-Key was
// used with a different request.
type keyReusedError struct {
	key string
}

func (e *keyReusedError) Error() string {
	return fmt.Sprintf("%s %q was used with a different request", headerIdempotencyKey, e.key)
}

// createResponse is the response to a request that creates an order: a
// new one's, or the one recorded with its Idempotency-Key.
type createResponse struct {
	orderID  string
	status   int
	location string
	body     []byte // the JSON of the order, as answered
	replayed bool   // the response of an earlier request with the same key
}

// claimKey records idem with the response res of the order being created,
// in tx, the transaction that creates it: the key and the order are
// committed, or lost, together. When the key is already recorded, claimKey
// returns its response, with replayed set, or a *keyReusedError for a
// different request; tx must then be rolled back. The INSERT … ON
// CONFLICT DO NOTHING makes a concurrent request with the same key wait
// until this transaction ends (PostgreSQL blocks on the key's index
// entry; SQLite runs one writing transaction at a time), then find the
// key: one order, whatever the race.
func claimKey(ctx context.Context, tx *sql.Tx, idem *idempotency, res createResponse, now time.Time) (recorded *createResponse, err error) {
	ttl := idem.ttl
	if ttl <= 0 {
		ttl = defaultIdempotencyTTL
	}
	// An expired key that the purge job has not deleted yet counts as new.
	if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE idem_key = $1 AND created_at < $2`,
		idem.key, now.Add(-ttl).UnixMilli()); err != nil {
		return nil, err
	}
	ins, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (idem_key, request_hash, order_id, status, location, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING`,
		idem.key, idem.hash, res.orderID, res.status, res.location, string(res.body), now.UnixMilli())
	if err != nil {
		return nil, err
	}
	if n, err := ins.RowsAffected(); err != nil || n == 1 {
		return nil, err
	}
	var (
		hash, body string
		prev       = createResponse{replayed: true}
	)
	err = tx.QueryRowContext(ctx, `SELECT request_hash, order_id, status, location, body FROM idempotency_keys WHERE idem_key = $1`,
		idem.key).Scan(&hash, &prev.orderID, &prev.status, &prev.location, &body)
	if err != nil {
		return nil, err
	}
	if hash != idem.hash {
		return nil, &keyReusedError{key: idem.key}
	}
	prev.body = []byte(body)
	return &prev, nil
}

// purgeKeys deletes the Idempotency-Keys recorded before cutoff, and
// returns how many.
func (s *store) purgeKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("orders: purge idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
