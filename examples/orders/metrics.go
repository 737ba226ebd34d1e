package main

import (
	"strconv"

	"github.com/go-flexible/flexible/flexcron"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the counters of the Kafka workers, the cron jobs, the
// outbox relay and SQLite's writer at each scrape of the operations server's /metrics.
// flexkafka and flexcron keep monotonic counters (and partition lag)
// without depending on Prometheus; this is the few lines that map them
// onto it.
type collector struct {
	consumers map[string]*flexkafka.Consumer // by consumer group: the label's value
	producer  *flexkafka.Producer
	relay     *relay
	cron      *flexcron.Scheduler
	redriven  *redriveCounts // nil: not exported
	writer    *writer        // nil (PostgreSQL): not exported
}

var (
	descConsumed = prometheus.NewDesc("orders_kafka_consumer_messages_total",
		"Messages handled successfully, by consumer group and topic.", []string{"group", "topic"}, nil)
	descRetries = prometheus.NewDesc("orders_kafka_consumer_retries_total",
		"Handler calls repeated after a failure (a database outage, say), by consumer group and topic.", []string{"group", "topic"}, nil)
	descDeadLettered = prometheus.NewDesc("orders_kafka_consumer_dead_lettered_total",
		"Messages published to the dead-letter topic, by consumer group and topic: re-drive them with `orders redrive`.", []string{"group", "topic"}, nil)
	descRetrying = prometheus.NewDesc("orders_kafka_consumer_partitions_retrying",
		"Partitions held up by a message being retried, now, by consumer group.", []string{"group"}, nil)
	descLag = prometheus.NewDesc("orders_kafka_consumer_lag",
		"Messages not yet handled and committed, by consumer group and partition.", []string{"group", "topic", "partition"}, nil)
	descProducerErrors = prometheus.NewDesc("orders_kafka_producer_errors_total",
		"Messages the producer failed to write, reported to their sender.", nil, nil)
	descProducerBuffered = prometheus.NewDesc("orders_kafka_producer_buffered",
		"Messages accepted by the producer and not yet acknowledged, now.", nil, nil)
	descProduced = prometheus.NewDesc("orders_kafka_producer_messages_total",
		"Messages acknowledged by the brokers.", nil, nil)
	descRelayed = prometheus.NewDesc("orders_outbox_published_total",
		"Outbox rows published to Kafka and marked sent.", nil, nil)
	descRelayFailures = prometheus.NewDesc("orders_outbox_failures_total",
		"Outbox relay passes that failed and will be retried.", nil, nil)
	descCronRuns = prometheus.NewDesc("orders_cron_runs_total",
		"Cron job runs finished, failed ones included, by job.", []string{"job"}, nil)
	descCronFailures = prometheus.NewDesc("orders_cron_failures_total",
		"Cron job runs that returned an error or panicked, by job.", []string{"job"}, nil)
	descCronLockHeld = prometheus.NewDesc("orders_cron_lock_held_total",
		"Cron job runs skipped because another replica held the job's lock, by job.", []string{"job"}, nil)
	descCronDuration = prometheus.NewDesc("orders_cron_last_duration_seconds",
		"Duration of the job's last finished run, by job.", []string{"job"}, nil)
	descWriterGroups = prometheus.NewDesc("orders_db_write_groups_total",
		"SQLite: groups of writing transactions committed together (or failed together).", nil, nil)
	descWriterTxs = prometheus.NewDesc("orders_db_write_transactions_total",
		"SQLite: writing transactions run by the writer, by lane (api, pipeline).", []string{"lane"}, nil)
	descWriterWaiting = prometheus.NewDesc("orders_db_write_waiting",
		"SQLite: writing transactions queued for the writer now, by lane.", []string{"lane"}, nil)
	descReconciled = prometheus.NewDesc("orders_reconciled_total",
		"Orders stuck in created or paid whose event the reconcile job published again, by that status.", []string{"status"}, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConsumed, descRetries, descDeadLettered, descRetrying, descLag,
		descProduced, descProducerErrors, descProducerBuffered, descRelayed, descRelayFailures,
		descCronRuns, descCronFailures, descCronLockHeld, descCronDuration, descReconciled,
		descWriterGroups, descWriterTxs, descWriterWaiting} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for group, consumer := range c.consumers {
		stats := consumer.Stats()
		for topic, ts := range stats.Topics {
			ch <- prometheus.MustNewConstMetric(descConsumed, prometheus.CounterValue, float64(ts.Messages), group, topic)
			ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(ts.Retries), group, topic)
			ch <- prometheus.MustNewConstMetric(descDeadLettered, prometheus.CounterValue, float64(ts.DeadLettered), group, topic)
		}
		ch <- prometheus.MustNewConstMetric(descRetrying, prometheus.GaugeValue, float64(len(stats.Retrying)), group)
		for _, p := range stats.Partitions {
			if p.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(p.Lag),
					group, p.Topic, strconv.Itoa(p.Partition))
			}
		}
	}
	produced := c.producer.Stats()
	ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, float64(produced.Messages))
	ch <- prometheus.MustNewConstMetric(descProducerErrors, prometheus.CounterValue, float64(produced.Errors))
	ch <- prometheus.MustNewConstMetric(descProducerBuffered, prometheus.GaugeValue, float64(produced.Buffered))
	ch <- prometheus.MustNewConstMetric(descRelayed, prometheus.CounterValue, float64(c.relay.published.Load()))
	ch <- prometheus.MustNewConstMetric(descRelayFailures, prometheus.CounterValue, float64(c.relay.failures.Load()))
	for _, job := range c.cron.Stats() {
		ch <- prometheus.MustNewConstMetric(descCronRuns, prometheus.CounterValue, float64(job.Runs), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronFailures, prometheus.CounterValue, float64(job.Failures), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronLockHeld, prometheus.CounterValue, float64(job.LockHeld), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronDuration, prometheus.GaugeValue, job.LastDuration.Seconds(), job.Name)
	}
	if w := c.writer; w != nil {
		ch <- prometheus.MustNewConstMetric(descWriterGroups, prometheus.CounterValue, float64(w.commits.Load()))
		for l := range lanes {
			ch <- prometheus.MustNewConstMetric(descWriterTxs, prometheus.CounterValue, float64(w.txs[l].Load()), l.String())
			ch <- prometheus.MustNewConstMetric(descWriterWaiting, prometheus.GaugeValue, float64(w.waiting(l)), l.String())
		}
	}
	if c.redriven != nil {
		ch <- prometheus.MustNewConstMetric(descReconciled, prometheus.CounterValue, float64(c.redriven.created.Load()), string(statusCreated))
		ch <- prometheus.MustNewConstMetric(descReconciled, prometheus.CounterValue, float64(c.redriven.paid.Load()), string(statusPaid))
	}
}
