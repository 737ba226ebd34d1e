package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-flexible/flexible/flex"
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

// errBadInBatch marks the failure of a batch that holds a message which
// cannot be handled (malformed, or of an unknown order), or a panic: the
// batch is handled again one message at a time (see batchMiddleware), so
// that only that message is dead-lettered.
var errBadInBatch = errors.New("orders: a message of the batch cannot be handled")

// handleBatch is the step's flexkafka.BatchHandler: it moves the orders of
// consecutive messages of a partition in one transaction, one commit for
// the batch, which is what lets the pipeline keep up with the API (a
// commit waits for the disk). A batch of one is handle's.
func (s *step) handleBatch(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 1 {
		return s.handle(ctx, msgs[0])
	}
	ids := make([]string, len(msgs))
	for i, msg := range msgs {
		ev, err := decodeEvent(msg)
		if err != nil {
			return flexkafka.Permanent(fmt.Errorf("%w: %w", errBadInBatch, err))
		}
		ids[i] = ev.OrderID
	}
	res, err := s.store.applyAll(ctx, ids, s.to)
	switch {
	case errors.Is(err, errNotFound):
		return flexkafka.Permanent(fmt.Errorf("%w: %w", errBadInBatch, err))
	case err != nil:
		return err
	}
	// One line for the orders moved, not one each: at a thousand orders a
	// second, a line per order and step was a write(2) each, and a tenth
	// of the service's CPU went to logging.
	moved := make([]string, 0, len(ids))
	for i, r := range res {
		if !r.applied {
			s.log.Info("orders: "+s.what+" skipped: the order has moved on",
				"order", ids[i], "status", r.current, "want", s.to.from)
			continue
		}
		moved = append(moved, ids[i])
	}
	if len(moved) > 0 {
		s.log.Info("orders: orders "+string(s.to.to), "count", len(moved), "orders", moved)
	}
	return nil
}

// batchMiddleware is the consumers' middleware: flexkafka's Retry with
// policy, and DeadLetter to topic, as the default chain has, except that a
// batch failing for one bad message (errBadInBatch) or a panic is handled
// again one message at a time, each retried and dead-lettered alone: the
// good messages are applied (their batch's transaction was rolled back)
// and only the bad one is dead-lettered, not its whole batch.
func batchMiddleware(topic string, policy flexkafka.RetryPolicy) flexkafka.Middleware {
	retry, deadLetter := flexkafka.Retry(policy), flexkafka.DeadLetter(topic, nil)
	return func(next flexkafka.BatchHandler) flexkafka.BatchHandler {
		whole, single := retry(next), deadLetter(retry(next))
		return func(ctx context.Context, msgs []kafka.Message) error {
			if len(msgs) == 1 {
				return single(ctx, msgs)
			}
			err := whole(ctx, msgs)
			var panicked *flex.PanicError
			if err == nil || !errors.Is(err, errBadInBatch) && !errors.As(err, &panicked) {
				return err
			}
			for i := range msgs {
				if err := single(ctx, msgs[i:i+1]); err != nil {
					return err
				}
			}
			return nil
		}
	}
}
