package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// payments handles orders.created: it takes the payment of each new order
// and marks it paid, which publishes orders.paid through the outbox.
//
// Kafka delivers at least once, so the same order may come twice. Marking
// it paid is a conditional UPDATE (… WHERE status = 'created'): the second
// delivery finds it paid already and changes nothing, and an order
// cancelled or expired meanwhile is not paid at all.
type payments struct {
	store *store
	log   *slog.Logger
}

// handle is the flexkafka.Handler of the payments consumer. An error makes
// the consumer retry the message, then dead-letter it; an error wrapped with
// flexkafka.Permanent is dead-lettered at once.
func (p *payments) handle(ctx context.Context, msg kafka.Message) error {
	ev, err := decodeEvent(msg)
	if err != nil {
		return flexkafka.Permanent(err)
	}
	// A real system charges the customer here, giving the payment provider
	// the order ID as its idempotency key, so that a charge is never taken
	// twice either.
	applied, current, err := p.store.apply(ctx, ev.OrderID, toPaid)
	switch {
	case errors.Is(err, errNotFound):
		return flexkafka.Permanent(err)
	case err != nil:
		return err
	case !applied:
		p.log.Info("orders: payment skipped: order is no longer awaiting payment",
			"order", ev.OrderID, "status", current)
	default:
		p.log.Info("orders: order paid", "order", ev.OrderID, "total_cents", ev.TotalCents)
	}
	return nil
}
