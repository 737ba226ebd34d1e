package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// step is the handler of a consumer that moves the order of each event one
// step along its lifecycle, which publishes the next event through the
// outbox:
//
//   - payments handles orders.created: it takes the payment (a real system
//     charges the customer here, giving the payment provider the order ID
//     as its idempotency key, so that a charge is never taken twice either)
//     and marks the order paid;
//   - shipping handles orders.paid: it ships the order (a real system books
//     the parcel with the carrier here) and marks it shipped.
//
// Kafka delivers at least once, so the same event may come twice. The step
// is a conditional UPDATE (… WHERE status = 'created'): the second delivery
// finds the order moved on already and changes nothing, and an order
// cancelled or expired meanwhile is not paid at all.
type step struct {
	store *store
	log   *slog.Logger
	to    transition
	what  string // the step, in logs: "payment", "shipping"
}

func newPayments(s *store, log *slog.Logger) *step {
	return &step{store: s, log: log, to: toPaid, what: "payment"}
}

func newShipping(s *store, log *slog.Logger) *step {
	return &step{store: s, log: log, to: toShipped, what: "shipping"}
}

// handle is the step's flexkafka.Handler. An error makes the consumer retry
// the message, then dead-letter it; an error wrapped with
// flexkafka.Permanent (a malformed event, an unknown order) is dead-lettered
// at once.
func (s *step) handle(ctx context.Context, msg kafka.Message) error {
	ev, err := decodeEvent(msg)
	if err != nil {
		return flexkafka.Permanent(err)
	}
	applied, current, err := s.store.apply(ctx, ev.OrderID, s.to)
	switch {
	case errors.Is(err, errNotFound):
		return flexkafka.Permanent(err)
	case err != nil:
		return err
	case !applied:
		s.log.Info("orders: "+s.what+" skipped: the order has moved on",
			"order", ev.OrderID, "status", current, "want", s.to.from)
	default:
		s.log.Info("orders: order "+string(s.to.to), "order", ev.OrderID)
	}
	return nil
}
