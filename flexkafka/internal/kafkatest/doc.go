// Package kafkatest holds the tests of flexkafka that need a Kafka broker:
// the in-process kfake broker by default, or a real cluster named by
// FLEX_KAFKA_TEST_BROKERS. It is a module of its own, so that kfake and
// its go line (go 1.26) stay out of flexkafka's go.mod and out of the
// module graph of flexkafka's users. It has no API: only tests and
// runnable examples.
//
// Run it like any module: cd flexkafka/internal/kafkatest && go test ./...
// Its coverage is measured on flexkafka's packages.
package kafkatest
