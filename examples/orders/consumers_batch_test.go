package main

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestBatchDeadLettersOnlyTheBadMessage puts a malformed event among three
// good ones in one partition before the consumers start, so that they
// come in one batch: the good orders are paid and shipped, and only the
// bad message is dead-lettered, not its batch.
func TestBatchDeadLettersOnlyTheBadMessage(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		testKafka(t, &cfg)
		tp := topics{prefix: cfg.KafkaPrefix}
		db := openTestDB(t, cfg)
		var good []string
		var msgs []kafka.Message
		for i := range 3 {
			id := newOrderID()
			good = append(good, id)
			msgs = append(msgs, insertOrderWithoutEvent(t, db, tp, id))
			if i == 0 {
				msgs = append(msgs, kafka.Message{Topic: tp.status(statusCreated), Value: []byte(`{not json`)})
			}
		}
		for i := range msgs {
			msgs[i].Key = []byte("one-partition")
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := createTopics(ctx, cfg.Brokers, tp.all()); err != nil {
			t.Fatal(err)
		}
		w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 1}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		w.Close()

		sys := start(t, cfg)
		for _, id := range good {
			waitForStatus(t, sys.url, id, statusShipped)
		}
		waitFor(t, "the bad message dead-lettered", func() bool { return sys.payments.Stats().DeadLettered > 0 })
		if got := sys.payments.Stats().DeadLettered; got != 1 {
			t.Errorf("payments dead-lettered %d messages, want only the bad one", got)
		}
	})
}
