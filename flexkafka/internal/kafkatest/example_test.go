package kafkatest_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A consumer and a producer run as one service. The example starts an
// in-process Kafka broker; a real service reads FLEX_KAFKA_BROKERS,
// FLEX_KAFKA_GROUP_ID and FLEX_KAFKA_TOPICS instead of passing options.
func Example_service() {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	brokers := flexkafka.WithBrokers(broker.ListenAddrs()...)
	quiet := flexkafka.WithLogger(slog.New(slog.DiscardHandler))

	producer, err := flexkafka.NewProducer(brokers, flexkafka.WithTopics("orders"), quiet)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var handled sync.WaitGroup
	handled.Add(3)
	consumer, err := flexkafka.NewConsumer(func(ctx context.Context, msg kafka.Message) error {
		fmt.Printf("order %s: %s\n", msg.Key, msg.Value)
		handled.Done()
		return nil
	}, brokers, flexkafka.WithGroupID("billing"), flexkafka.WithTopics("orders"), quiet)
	if err != nil {
		log.Fatal(err)
	}

	go func() {
		for i, item := range []string{"book", "lamp", "tea"} {
			msg := kafka.Message{Key: fmt.Appendf(nil, "%d", i+1), Value: []byte(item)}
			if err := producer.Produce(ctx, msg); err != nil {
				log.Fatal(err)
			}
		}
		handled.Wait()
		stop() // in a real service: SIGTERM
	}()

	// Halted in reverse order: the consumer commits, then the producer flushes.
	svc := flex.New(flex.WithSignals(), flex.WithLogger(slog.New(slog.DiscardHandler)))
	if err := svc.Start(ctx, producer, consumer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", consumer.Stats().Commits > 0)
	// Output:
	// order 1: book
	// order 2: lamp
	// order 3: tea
	// committed: true
}

// A message that fails permanently (here: malformed) is published to a
// dead-letter topic at once, with headers saying where it came from and
// why. A plain error would be retried until the handler succeeds.
func Example_deadLetterTopic() {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "payments", "payments-dlq"))
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	brokers := flexkafka.WithBrokers(broker.ListenAddrs()...)
	quiet := flexkafka.WithLogger(slog.New(slog.DiscardHandler))

	producer, _ := flexkafka.NewProducer(brokers, flexkafka.WithTopics("payments"), quiet)
	producer.Produce(context.Background(), kafka.Message{Value: []byte("malformed")})
	producer.Halt(context.Background())

	done := make(chan struct{})
	consumer, err := flexkafka.NewConsumer(func(ctx context.Context, msg kafka.Message) error {
		return flexkafka.Permanent(fmt.Errorf("cannot parse %q", msg.Value))
	}, brokers, flexkafka.WithGroupID("payments"), flexkafka.WithTopics("payments"), quiet,
		flexkafka.WithDeadLetterTopic("payments-dlq"))
	if err != nil {
		log.Fatal(err)
	}
	go consumer.Run(context.Background())

	dlq, _ := flexkafka.NewConsumer(func(ctx context.Context, msg kafka.Message) error {
		for _, h := range msg.Headers {
			if strings.HasPrefix(h.Key, "flexkafka-dlq-") && h.Key != flexkafka.HeaderDLQTime {
				fmt.Printf("%s: %s\n", h.Key, h.Value)
			}
		}
		close(done)
		return nil
	}, brokers, flexkafka.WithGroupID("ops"), flexkafka.WithTopics("payments-dlq"), quiet)
	go dlq.Run(context.Background())
	<-done
	consumer.Halt(context.Background())
	dlq.Halt(context.Background())
	// Output:
	// flexkafka-dlq-topic: payments
	// flexkafka-dlq-partition: 0
	// flexkafka-dlq-offset: 0
	// flexkafka-dlq-error: cannot parse "malformed"
	// flexkafka-dlq-attempts: 1
	// flexkafka-dlq-group: payments
}
