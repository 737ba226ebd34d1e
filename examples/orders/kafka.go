package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// topics names the Kafka topics of the system. Every change of an order's
// status is published to the topic of its new status, keyed by the order's
// ID, so that the events of one order stay in one partition, in order.
type topics struct {
	prefix string // ORDERS_KAFKA_PREFIX, such as "staging."
}

// status returns the topic of the events of orders reaching s, such as
// "orders.paid".
func (t topics) status(s status) string { return t.prefix + "orders." + string(s) }

// deadLetter returns the topic where the consumers put the messages they
// could not handle, with headers saying where each came from and why.
func (t topics) deadLetter() string { return t.prefix + "orders.dlq" }

// group returns the name of a consumer group.
func (t topics) group(name string) string { return t.prefix + "orders-" + name }

func (t topics) all() []string {
	return []string{
		t.status(statusCreated), t.status(statusPaid), t.status(statusShipped),
		t.status(statusCancelled), t.status(statusExpired), t.deadLetter(),
	}
}

// partitions is the partition count of the topics created at startup.
const partitions = 3

// event is the value of every message the system publishes: the order as
// it was when its status changed.
type event struct {
	OrderID    string    `json:"order_id"`
	Status     status    `json:"status"`
	Customer   string    `json:"customer"`
	TotalCents int64     `json:"total_cents"`
	Time       time.Time `json:"time"`
}

// decodeEvent parses a message published by the outbox relay.
func decodeEvent(msg kafka.Message) (event, error) {
	var ev event
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		return ev, fmt.Errorf("orders: malformed event at %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
	}
	if ev.OrderID == "" {
		return ev, fmt.Errorf("orders: event at %s/%d@%d has no order_id", msg.Topic, msg.Partition, msg.Offset)
	}
	return ev, nil
}

// startKafka starts an in-process Kafka cluster (kfake) listening on
// 127.0.0.1, for running the example with nothing but Go. It keeps its
// data in dir, so that messages survive a restart like the database's
// rows do.
func startKafka(dir string, log *slog.Logger) (*kfake.Cluster, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
	if err != nil {
		return nil, fmt.Errorf("orders: start in-process Kafka in %q: %w", dir, err)
	}
	log.Info("orders: FLEX_KAFKA_BROKERS not set: started an in-process Kafka cluster (kfake)",
		"brokers", cluster.ListenAddrs(), "data", dir)
	return cluster, nil
}

// createTopics creates the topics that do not exist yet. On a cluster whose
// topics are provisioned by other means, it changes nothing.
func createTopics(ctx context.Context, brokers []string, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	configs := make([]kafka.TopicConfig, len(names))
	for i, name := range names {
		configs[i] = kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return fmt.Errorf("orders: create topics on %v: %w", brokers, err)
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("orders: create topic %q: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}
