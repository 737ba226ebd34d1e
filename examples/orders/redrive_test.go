package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
)

// TestRedriveCommand dead-letters the created event of an order that the
// payments consumer could not find yet (as when an event outruns a
// database replica), then, once the order exists, re-drives it with the
// `orders redrive` command: the order is paid and shipped, once, even when
// the same dead letter is re-driven a second time under another group.
func TestRedriveCommand(t *testing.T) {
	forEachDatabase(t, testRedriveCommand)
}

func testRedriveCommand(t *testing.T, cfg config) {
	testKafka(t, &cfg)
	sys := start(t, cfg)
	t.Setenv(flexkafka.EnvBrokers, strings.Join(cfg.Brokers, ","))
	t.Setenv(envKafkaPrefix, cfg.KafkaPrefix)
	tp := sys.store.topics

	const id = "ord_redriveaaaaaaaaaaaaaaaaaaa"
	now := time.Now()
	ev := `{"order_id":"` + id + `","status":"created","customer":"late","total_cents":100,"time":"` + now.Format(time.RFC3339Nano) + `"}`
	publish(t, cfg.Brokers, kafka.Message{Topic: tp.status(statusCreated), Key: []byte(id), Value: []byte(ev)})
	waitFor(t, "the event of an unknown order dead-lettered", func() bool { return sys.payments.Stats().DeadLettered == 1 })

	// The order becomes visible, as it was written without its event.
	ms := now.UnixMilli()
	if _, err := sys.db.Exec(`INSERT INTO orders (id, customer, status, total_cents, created_at, updated_at) VALUES ($1, 'late', 'created', 100, $2, $2)`, id, ms); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.db.Exec(`INSERT INTO order_items (order_id, line, sku, qty, price_cents) VALUES ($1, 0, 'BOOK-1', 1, 100)`, id); err != nil {
		t.Fatal(err)
	}

	redrive := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := redriveCommand(ctx, args, &out, testLogger()); err != nil {
			t.Fatalf("orders redrive %v: %v\n%s", args, err, &out)
		}
		return out.String()
	}
	// A filter that matches nothing re-drives nothing, in a group of its own.
	if out := redrive("-group", "other", "-origin", tp.status(statusPaid)); !strings.Contains(out, "0 re-driven, 1 skipped") {
		t.Errorf("re-drive filtered to orders.paid: %q, want the dead letter skipped", out)
	}
	if out := redrive("-origin", tp.status(statusCreated), "-error", "no such order"); !strings.Contains(out, "1 re-driven") {
		t.Errorf("re-drive: %q, want 1 re-driven", out)
	}
	waitForStatus(t, sys.url, id, statusShipped)

	// The same group again: nothing new. Another group: the same dead
	// letter once more, which the idempotent handlers apply once.
	if out := redrive(); !strings.Contains(out, "read 0 dead letters") {
		t.Errorf("second re-drive in the same group: %q, want nothing read", out)
	}
	if out := redrive("-group", "again"); !strings.Contains(out, "1 re-driven") {
		t.Errorf("re-drive in a new group: %q, want the dead letter re-driven again", out)
	}
	waitFor(t, "the second re-drive handled", func() bool { return sys.payments.Stats().Messages == 2 })
	for _, s := range []status{statusPaid, statusShipped} {
		if rows, _ := outboxRows(t, sys.db, tp.status(s), id); rows != 1 {
			t.Errorf("%d %s events after re-driving twice, want 1", rows, s)
		}
	}
	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestRedriveCommandBadInput(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		brokers string
		want    string
	}{
		{args: nil, want: "FLEX_KAFKA_BROKERS is not set"},
		{args: []string{"-older-than", "-1m"}, brokers: "127.0.0.1:1", want: "-older-than"},
		{args: []string{"-older-than", "soon"}, brokers: "127.0.0.1:1", want: "invalid value"},
		{args: []string{"extra"}, brokers: "127.0.0.1:1", want: `unexpected argument "extra"`},
	} {
		t.Setenv(flexkafka.EnvBrokers, tc.brokers)
		var out bytes.Buffer
		err := redriveCommand(context.Background(), tc.args, &out, testLogger())
		if err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
			t.Errorf("orders redrive %v = %v (%s), want an error saying %q", tc.args, err, &out, tc.want)
		}
	}
}
