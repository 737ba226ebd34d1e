package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Operations on the order system's API, each a kind of request counted
// apart in the summary.
const (
	opCreate = "create" // POST /orders
	opGet    = "get"    // GET /orders/{id}
	opList   = "list"   // GET /orders?limit=N
	opCancel = "cancel" // POST /orders/{id}/cancel
)

// Final states of an order; created and paid are on the way.
var finalStates = map[string]bool{"shipped": true, "cancelled": true, "expired": true}

// order is what the API answers for an order, as far as loadgen cares.
type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// newOrder is the body of POST /orders.
type newOrder struct {
	Customer string `json:"customer"`
	Items    []item `json:"items"`
}

type item struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int    `json:"price_cents"`
}

// result is the outcome of one HTTP request: a status, or a transport
// error of some kind (see errorKind), and how long it took.
type result struct {
	op      string
	status  int           // 0 after a transport error
	errKind string        // "" when a response came back
	took    time.Duration // until the whole body was read
	body    []byte
	header  http.Header
}

// failed reports whether r is an error in the summary's sense: no
// response, or a status the operation does not expect.
func (r result) failed() bool {
	switch {
	case r.errKind != "":
		return true
	case r.op == opCancel && r.status == http.StatusConflict:
		return false // the order was paid first: a race the client loses, not an error
	default:
		return r.status >= 400
	}
}

// errorLabel returns what the summary counts r's error under: the status
// ("503") or the transport error's kind ("refused").
func (r result) errorLabel() string {
	if r.errKind != "" {
		return r.errKind
	}
	return strconv.Itoa(r.status)
}

// retryable reports whether a create answered r may be sent again with
// the same Idempotency-Key: no answer at all, or the server saying so.
func (r result) retryable() bool {
	return r.errKind != "" || r.status == http.StatusServiceUnavailable ||
		r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout ||
		r.status == http.StatusTooManyRequests
}

// client sends the API's requests and reports each to observe.
type client struct {
	base    string // such as http://localhost:8080
	http    *http.Client
	observe func(result) // nil: not reported
}

func newClient(base string, timeout time.Duration, conns int, observe func(result)) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &client{base: base, http: &http.Client{Timeout: timeout, Transport: tr}, observe: observe}
}

// do sends one request and reads the whole answer.
func (c *client) do(ctx context.Context, op, method, path string, body []byte, header http.Header) result {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	res := result{op: op}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		res.errKind = "other"
		return res
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err == nil {
		res.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		res.status, res.header = resp.StatusCode, resp.Header
	}
	res.took = time.Since(start)
	if err != nil {
		res.status, res.errKind = 0, errorKind(err)
	}
	if c.observe != nil && ctx.Err() == nil { // a request cut off by loadgen's own end is not the server's error
		c.observe(res)
	}
	return res
}

// errorKind names the kind of a transport error: refused (nothing
// listens), reset (the connection was cut: a crash, a kill), closed (the
// server closed it without answering), timeout, or other.
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	default:
		return "other"
	}
}

// createAttempt is one POST /orders with an Idempotency-Key: sent again
// with the same key and body, it creates at most one order.
type createAttempt struct {
	key  string
	body []byte
}

func newCreate(customer string, items []item) createAttempt {
	body, _ := json.Marshal(newOrder{Customer: customer, Items: items})
	return createAttempt{key: "loadgen-" + rand.Text(), body: body}
}

// create sends a, retrying up to retries times what may be retried, with
// backoff. It returns the order's ID once answered 201, or "" and the
// last result.
func (c *client) create(ctx context.Context, a createAttempt, retries int) (string, result) {
	header := http.Header{"Idempotency-Key": {a.key}}
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res := c.do(ctx, opCreate, http.MethodPost, "/orders", a.body, header)
		if res.status == http.StatusCreated {
			var o order
			if err := json.Unmarshal(res.body, &o); err != nil || o.ID == "" {
				res.errKind = "bad-body"
				return "", res
			}
			return o.ID, res
		}
		if !res.retryable() || attempt >= retries {
			return "", res
		}
		wait := backoff
		if s, err := strconv.Atoi(res.header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return "", res
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// get returns the order id: its status, or "" with the result when the
// answer is not 200.
func (c *client) get(ctx context.Context, id string) (string, result) {
	res := c.do(ctx, opGet, http.MethodGet, "/orders/"+id, nil, nil)
	if res.status != http.StatusOK {
		return "", res
	}
	var o order
	if err := json.Unmarshal(res.body, &o); err != nil {
		return "", res
	}
	return o.Status, res
}

// list asks for the most recent orders.
func (c *client) list(ctx context.Context, limit int) result {
	return c.do(ctx, opList, http.MethodGet, fmt.Sprintf("/orders?limit=%d", limit), nil, nil)
}

// cancel asks to cancel the order id.
func (c *client) cancel(ctx context.Context, id string) result {
	return c.do(ctx, opCancel, http.MethodPost, "/orders/"+id+"/cancel", nil, nil)
}
