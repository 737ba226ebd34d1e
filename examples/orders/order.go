package main

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// status is where an order is in its lifecycle:
//
//	created ──pay──▶ paid ──ship──▶ shipped
//	   │
//	   ├──cancel──▶ cancelled   (POST /orders/{id}/cancel)
//	   └──expire──▶ expired     (unpaid for ORDERS_PAYMENT_TIMEOUT)
type status string

const (
	statusCreated   status = "created"
	statusPaid      status = "paid"
	statusShipped   status = "shipped"
	statusCancelled status = "cancelled"
	statusExpired   status = "expired"
)

// transition is one arrow of the lifecycle. The store applies it with a
// conditional UPDATE (… WHERE status = from), so that applying it twice,
// as at-least-once delivery may, changes the order once, and two
// transitions racing for the same order (a payment and an expiry) cannot
// both win.
type transition struct {
	from, to status
}

var (
	toPaid      = transition{from: statusCreated, to: statusPaid}
	toShipped   = transition{from: statusPaid, to: statusShipped}
	toCancelled = transition{from: statusCreated, to: statusCancelled}
	toExpired   = transition{from: statusCreated, to: statusExpired}
)

// order is an order as stored and as served by the API.
type order struct {
	ID         string    `json:"id"`
	Customer   string    `json:"customer"`
	Status     status    `json:"status"`
	Items      []item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// item is one line of an order.
type item struct {
	SKU        string `json:"sku"`
	Qty        int64  `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

// Limits of a valid order. They keep the total far below the int64 range.
const (
	maxCustomerLen = 100
	maxSKULen      = 64
	maxItems       = 100
	maxQty         = 1000
	maxPriceCents  = 100_000_000 // one million in the currency's units
)

// newOrderRequest is the body of POST /orders.
type newOrderRequest struct {
	Customer string `json:"customer"`
	Items    []item `json:"items"`
}

// validate returns every problem of the request, each naming the field, or
// nil when the order can be created.
func (r *newOrderRequest) validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch customer := strings.TrimSpace(r.Customer); {
	case badText(r.Customer) != "":
		add("customer: %s", badText(r.Customer))
	case customer == "":
		add("customer: required")
	case utf8.RuneCountInString(customer) > maxCustomerLen:
		add("customer: at most %d characters", maxCustomerLen)
	}
	switch n := len(r.Items); {
	case n == 0:
		add("items: at least one item required")
	case n > maxItems:
		add("items: at most %d items, got %d", maxItems, n)
	}
	for i, it := range r.Items {
		switch sku := strings.TrimSpace(it.SKU); {
		case badText(it.SKU) != "":
			add("items[%d].sku: %s", i, badText(it.SKU))
		case sku == "":
			add("items[%d].sku: required", i)
		case len(sku) > maxSKULen:
			add("items[%d].sku: at most %d bytes", i, maxSKULen)
		}
		if it.Qty < 1 || it.Qty > maxQty {
			add("items[%d].qty: must be between 1 and %d, got %d", i, maxQty, it.Qty)
		}
		if it.PriceCents < 0 || it.PriceCents > maxPriceCents {
			add("items[%d].price_cents: must be between 0 and %d, got %d", i, maxPriceCents, it.PriceCents)
		}
	}
	return problems
}

// badText says what is wrong with s as text to store and show, or returns
// "" when nothing is. Text must be valid UTF-8 without NUL, which
// PostgreSQL refuses (so the same input fails on one database and not on
// the other), without control characters (newlines and escapes forge log
// lines and terminal output), without bidirectional formatting characters
// (which make text display in another order than it is stored: "Trojan
// Source"), line or paragraph separators, noncharacters, or U+FFFD, which
// JSON decoding puts in place of an invalid escape such as "\ud800".
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return fmt.Sprintf("must not contain control characters (%U)", r)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Sprintf("must not contain bidirectional formatting characters (%U)", r)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("must not contain line or paragraph separators (%U)", r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r):
			return fmt.Sprintf("must not contain noncharacters (%U)", r)
		case r == utf8.RuneError:
			return "must not contain U+FFFD, the replacement for invalid text"
		}
	}
	return ""
}

// newOrderID returns a new, random order ID: "ord_" and 26 characters of
// lower-case base32.
func newOrderID() string { return "ord_" + strings.ToLower(rand.Text()) }

// maxIDLen bounds the random part of an order ID that validID accepts,
// leaving room for rand.Text to grow.
const maxIDLen = 64

// validID reports whether id has the form of an order's ID (see
// newOrderID). The store answers any other ID unknown without asking the
// database, which is how a NUL or invalid UTF-8 in a path gets a 404
// rather than a PostgreSQL error.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "ord_")
	if !ok || len(rest) == 0 || len(rest) > maxIDLen {
		return false
	}
	for _, c := range []byte(rest) {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// total returns the order's total in cents. Call it on a valid request only.
func total(items []item) int64 {
	var sum int64
	for _, it := range items {
		sum += it.Qty * it.PriceCents
	}
	return sum
}
