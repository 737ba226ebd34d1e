package main

import (
	"strconv"

	"github.com/go-flexible/flexible/flexcron"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the counters of the Kafka workers, the cron jobs and
// the outbox relay at each scrape of the operations server's /metrics.
// flexkafka and flexcron keep monotonic counters (and partition lag)
// without depending on Prometheus; this is the few lines that map them
// onto it.
type collector struct {
	consumers []*flexkafka.Consumer
	producer  *flexkafka.Producer
	relay     *relay
	cron      *flexcron.Scheduler
}

var (
	descConsumed = prometheus.NewDesc("orders_kafka_consumer_messages_total",
		"Messages handled successfully, by consumer group.", []string{"group"}, nil)
	descDeadLettered = prometheus.NewDesc("orders_kafka_consumer_dead_lettered_total",
		"Messages published to the dead-letter topic, by consumer group.", []string{"group"}, nil)
	descLag = prometheus.NewDesc("orders_kafka_consumer_lag",
		"Messages not yet handled and committed, by consumer group and partition.", []string{"group", "topic", "partition"}, nil)
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
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConsumed, descDeadLettered, descLag, descProduced, descRelayed, descRelayFailures,
		descCronRuns, descCronFailures, descCronLockHeld, descCronDuration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, consumer := range c.consumers {
		group := consumer.String()
		stats := consumer.Stats()
		ch <- prometheus.MustNewConstMetric(descConsumed, prometheus.CounterValue, float64(stats.Messages), group)
		ch <- prometheus.MustNewConstMetric(descDeadLettered, prometheus.CounterValue, float64(stats.DeadLettered), group)
		for _, p := range stats.Partitions {
			if p.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(p.Lag),
					group, p.Topic, strconv.Itoa(p.Partition))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, float64(c.producer.Stats().Messages))
	ch <- prometheus.MustNewConstMetric(descRelayed, prometheus.CounterValue, float64(c.relay.published.Load()))
	ch <- prometheus.MustNewConstMetric(descRelayFailures, prometheus.CounterValue, float64(c.relay.failures.Load()))
	for _, job := range c.cron.Stats() {
		ch <- prometheus.MustNewConstMetric(descCronRuns, prometheus.CounterValue, float64(job.Runs), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronFailures, prometheus.CounterValue, float64(job.Failures), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronLockHeld, prometheus.CounterValue, float64(job.LockHeld), job.Name)
		ch <- prometheus.MustNewConstMetric(descCronDuration, prometheus.GaugeValue, job.LastDuration.Seconds(), job.Name)
	}
}
