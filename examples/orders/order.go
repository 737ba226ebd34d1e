package main

import (
	"fmt"
	"strings"
	"time"
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

// total returns the order's total in cents. Call it on a valid request only.
func total(items []item) int64 {
	var sum int64
	for _, it := range items {
		sum += it.Qty * it.PriceCents
	}
	return sum
}
