// Package flexkafka provides Kafka workers for flex: a [Consumer] that hands
// each message of a consumer group to a handler, and a [Producer] that
// writes messages, both built on github.com/segmentio/kafka-go and both
// [flex.Worker]s that halt without losing anything.
//
// The consumer delivers at least once, with as few duplicates as the
// protocol allows: it commits an offset only after the handler has
// succeeded for that message and every earlier one of its partition. Each
// partition is consumed in order by its own goroutine, so I/O-bound
// handlers of different partitions run concurrently. [NewBatchConsumer]
// hands a handler batches of consecutive messages of one partition.
//
// A failure is transient until it is shown to be permanent. By default a
// handler error is retried with capped exponential backoff and jitter,
// holding its partition (so the order per key is kept), until the handler
// succeeds: a database outage stalls the partition and fails
// [Consumer.Check], it does not dead-letter good messages. An error
// wrapped with [Permanent], one a [WithPermanentFunc] classifier marks,
// and a panic are not retried: the message is dead-lettered at once with
// [WithDeadLetterTopic] (or, without one, stops the consumer), and the
// partition moves on; a failed dead-letter write is retried in the same
// way, holding the partition. [WithMaxRetryTime] optionally bounds the retries.
// Retry and dead-lettering are [Middleware] ([Retry], [DeadLetter]) that
// [WithMiddleware] lets you compose, replace or drop. [Redrive] moves dead
// letters back to their topics once the cause is fixed.
//
// Handlers must honour their context and be idempotent. The context is
// cancelled at once when the partition is revoked by a rebalance (another
// member may then handle the same message; a late result is dropped,
// never committed), when [WithHandlerTimeout] passes, and near Halt's
// deadline; and a message may be delivered again after a rebalance, a
// crash, a halt deadline or a re-drive.
//
// The producer writes with deliberate defaults (all in-sync replicas
// acknowledge, millisecond batches, one partition per key). Every message
// it accepts is acknowledged or reported failed exactly once, even when
// Halt gives up at its deadline; it bounds the messages it holds
// unacknowledged ([WithMaxBuffered]), and Halt returns an error counting
// the messages not acknowledged ([ErrNotAcknowledged]).
//
// Options are typed by the worker they configure: [NewConsumer] takes
// [ConsumerOption]s, [NewProducer] takes [ProducerOption]s, and an
// [Option] (brokers, TLS, SASL, logger, propagator) is both. An option
// given to the wrong worker, such as [WithGroupID] to NewProducer, does
// not compile.
//
// Configuration comes from options, then from FLEX_KAFKA_BROKERS,
// FLEX_KAFKA_GROUP_ID and FLEX_KAFKA_TOPICS; see [Config]. Both workers
// implement [flex.Checker] for readiness and expose monotonic counters and
// partition lag through Stats, for flexmetrics or any metrics library.
//
// See the package example for a consumer and a producer run by
// [flex.Service], and the module README for the delivery guarantees in
// detail.
//
// [flex.Worker]: https://pkg.go.dev/github.com/go-flexible/flexible/flex#Worker
// [flex.Checker]: https://pkg.go.dev/github.com/go-flexible/flexible/flex#Checker
// [flex.Service]: https://pkg.go.dev/github.com/go-flexible/flexible/flex#Service
package flexkafka
