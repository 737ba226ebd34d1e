package kafkatest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// An asynchronous producer whose broker goes away before Halt: every
// message it accepted is either acknowledged or given to the error
// callback, and Halt counts those not acknowledged. A real service would
// keep the failed messages somewhere to write them again (an outbox table,
// a file), and must expect that some were written after all.
func Example_async() {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	var failed []string
	producer, err := flexkafka.NewProducer(
		flexkafka.WithBrokers(broker.ListenAddrs()...),
		flexkafka.WithTopics("orders"),
		flexkafka.WithAsync(func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				failed = append(failed, string(m.Value))
			}
		}),
		flexkafka.WithWriteAttempts(1),
		flexkafka.WithBatch(100, time.Hour), // batches are written by Halt's flush only
		flexkafka.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, item := range []string{"book", "lamp", "tea"} {
		if err := producer.Produce(context.Background(), kafka.Message{Value: []byte(item)}); err != nil {
			log.Fatal(err)
		}
	}
	broker.Close() // the broker goes away with the three messages unwritten

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = producer.Halt(ctx)
	fmt.Println("not acknowledged:", errors.Is(err, flexkafka.ErrNotAcknowledged))
	fmt.Println("given to the callback:", len(failed))
	st := producer.Stats()
	fmt.Printf("accepted %d, acknowledged %d, failed %d\n", st.Accepted, st.Messages, st.Errors)
	// Output:
	// not acknowledged: true
	// given to the callback: 3
	// accepted 3, acknowledged 0, failed 3
}
