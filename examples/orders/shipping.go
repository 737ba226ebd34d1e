package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// shipping handles orders.paid: it ships each paid order and marks it
// shipped, which publishes orders.shipped through the outbox. Like
// payments, it is idempotent: a duplicate finds the order shipped already.
type shipping struct {
	store *store
	log   *slog.Logger
}

// handle is the flexkafka.Handler of the shipping consumer.
func (s *shipping) handle(ctx context.Context, msg kafka.Message) error {
	ev, err := decodeEvent(msg)
	if err != nil {
		return flexkafka.Permanent(err)
	}
	// A real system books the parcel with the carrier here.
	applied, current, err := s.store.apply(ctx, ev.OrderID, toShipped)
	switch {
	case errors.Is(err, errNotFound):
		return flexkafka.Permanent(err)
	case err != nil:
		return err
	case !applied:
		s.log.Info("orders: shipping skipped: order is not awaiting shipment",
			"order", ev.OrderID, "status", current)
	default:
		s.log.Info("orders: order shipped", "order", ev.OrderID)
	}
	return nil
}
