package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
	"github.com/go-flexible/flexible/flexhttp"
	"github.com/go-flexible/flexible/flexkafka"
	"github.com/go-flexible/flexible/flexmetrics"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kfake"
)

// app is the order system, wired and ready to start (see start in
// main.go): its workers, and the resources that outlive them, the database
// and the in-process Kafka cluster if any, which close releases.
type app struct {
	log     *slog.Logger
	service *flex.Service

	// The workers, in the order they start.
	ops       *flexmetrics.Server // /metrics, pprof, /livez, /readyz
	producer  *flexkafka.Producer
	relay     *relay              // outbox → producer
	consumers *flex.Group         // payments and shipping
	cron      *flexcron.Scheduler // expiry of unpaid orders
	api       *flexhttp.Server    // the public API

	payments, shipping *flexkafka.Consumer
	store              *store         // the API's
	pipeline           *store         // the relay's, consumers' and cron's
	db                 *sql.DB        // the API's pool
	pipeDB             *sql.DB        // the pipeline's pool
	writeDB            *sql.DB        // SQLite: the writer's connection
	writer             *writer        // SQLite: nil on PostgreSQL
	kafka              *kfake.Cluster // nil when the brokers are external
}

// newApp builds the order system from cfg: it opens the database and
// creates its schema, starts an in-process Kafka cluster when no broker is
// configured, creates the topics and builds every worker. Nothing serves
// before start. Every setting is checked here, so that a bad one stops the
// program before anything runs. Call close once start has returned.
func newApp(ctx context.Context, cfg config) (_ *app, err error) {
	a := &app{log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	db, postgres, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.db = db
	a.log.Info("orders: database ready", "database", describeDB(cfg))
	topics := topics{prefix: cfg.KafkaPrefix}
	// The pipeline's pool and store (see pools.go): the relay, the
	// consumers and the cron jobs write through it, never queueing behind
	// the API's requests for a connection, nor, on SQLite, for the lock.
	if a.pipeDB, _, err = dialDB(cfg); err != nil {
		return nil, err
	}
	limitPool(a.pipeDB, cfg.DBPipeConns, defaultDBPipeConns)
	// SQLite: the writing transactions go through one connection of their
	// own, committed in groups (see writer.go).
	var w *writer
	if !postgres {
		if a.writeDB, _, err = dialDB(cfg); err != nil {
			return nil, err
		}
		w = newWriter(a.writeDB)
		a.writer = w
	}
	var written *doorbell // nil: the relay only polls
	if !cfg.OutboxPollOnly {
		written = newDoorbell()
	}
	a.store = &store{db: db, topics: topics, postgres: postgres, writer: w, lane: laneAPI, outboxWritten: written}
	a.pipeline = &store{db: a.pipeDB, topics: topics, postgres: postgres, writer: w, lane: lanePipeline, outboxWritten: written}

	// Kafka: the brokers given in code, else FLEX_KAFKA_BROKERS (read by
	// flexkafka, which reports a bad value), else an in-process cluster.
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		if env := os.Getenv(flexkafka.EnvBrokers); env != "" {
			for b := range strings.SplitSeq(env, ",") {
				brokers = append(brokers, strings.TrimSpace(b))
			}
		} else {
			if a.kafka, err = startKafka(cfg.KafkaDataDir, a.log); err != nil {
				return nil, err
			}
			brokers = a.kafka.ListenAddrs()
			cfg.Brokers = brokers
		}
	}
	var kafkaOpts []flexkafka.Option
	if len(cfg.Brokers) > 0 {
		kafkaOpts = append(kafkaOpts, flexkafka.WithBrokers(cfg.Brokers...))
	}
	kafkaOpts = append(kafkaOpts, flexkafka.WithLogger(a.log))
	producerOpts := make([]flexkafka.ProducerOption, len(kafkaOpts))
	for i, o := range kafkaOpts {
		producerOpts[i] = o
	}
	if a.producer, err = flexkafka.NewProducer(producerOpts...); err != nil {
		return nil, err
	}
	if err := createTopics(ctx, brokers, topics.all()); err != nil {
		return nil, err
	}
	// Batch consumers: the messages a partition has waiting are applied in
	// one transaction (see handleBatch), with the default chain's retry
	// and dead-lettering, per message for a bad one (batchMiddleware).
	retry := flexkafka.RetryPolicy{BackoffMin: cfg.RetryBackoffMin, BackoffMax: cfg.RetryBackoffMax}
	consumer := func(name string, from status, handle flexkafka.BatchHandler) (*flexkafka.Consumer, error) {
		var opts []flexkafka.ConsumerOption
		for _, o := range kafkaOpts {
			opts = append(opts, o)
		}
		opts = slices.Concat(opts, []flexkafka.ConsumerOption{
			flexkafka.WithGroupID(topics.group(name)),
			flexkafka.WithTopics(topics.status(from)),
			flexkafka.WithMiddleware(batchMiddleware(topics.deadLetter(), retry)),
		}, cfg.ConsumerOptions)
		return flexkafka.NewBatchConsumer(handle, opts...)
	}
	pay := newPayments(a.pipeline, a.log)
	if a.payments, err = consumer("payments", statusCreated, pay.handleBatch); err != nil {
		return nil, err
	}
	ship := newShipping(a.pipeline, a.log)
	if a.shipping, err = consumer("shipping", statusPaid, ship.handleBatch); err != nil {
		return nil, err
	}
	a.consumers = flex.NewGroup(a.payments, a.shipping)
	a.relay = newRelay(a.pipeline, a.producer, cfg.OutboxInterval, a.log)
	if postgres && !cfg.OutboxPollOnly {
		a.relay.wake = newPGWake(cfg.DatabaseURL, a.pipeDB, a.log)
	}

	if a.cron, err = newScheduler(ctx, cfg, a.pipeDB, postgres, a.pipeline, a.log); err != nil {
		return nil, err
	}

	// Metrics: one registry for the lifecycle observer, the public API's
	// middleware and the Kafka and outbox counters, served by ops.
	reg := flexmetrics.NewRegistry()
	observer, err := flexmetrics.NewObserver(reg)
	if err != nil {
		return nil, err
	}
	middleware, err := flexmetrics.NewMiddleware(reg)
	if err != nil {
		return nil, err
	}
	consumers := map[string]*flexkafka.Consumer{topics.group("payments"): a.payments, topics.group("shipping"): a.shipping}
	if err := reg.Register(&collector{consumers: consumers, producer: a.producer, relay: a.relay, cron: a.cron,
		redriven: &a.pipeline.redriven, writer: w}); err != nil {
		return nil, err
	}
	every := cfg.DBMetricsEvery
	if every <= 0 {
		every = defaultDBMetricsInterval
	}
	if err := reg.Register(newDBGauges(db, every)); err != nil {
		return nil, err
	}
	for name, pool := range map[string]*sql.DB{"api": db, "pipeline": a.pipeDB, "writer": a.writeDB} {
		if pool == nil {
			continue
		}
		if err := reg.Register(collectors.NewDBStatsCollector(pool, name)); err != nil {
			return nil, err
		}
	}

	a.service = flex.New(append([]flex.Option{
		flex.WithLogger(a.log),
		flex.WithObserver(observer),
		flex.WithReadinessCheck(flex.Check{Name: "database", Func: db.PingContext}),
	}, cfg.ServiceOptions...)...)

	opsOpts := []flexmetrics.Option{
		flexmetrics.WithRegistry(reg),
		flexmetrics.WithHealth(a.service.Health()),
		flexmetrics.WithLogger(a.log),
	}
	if cfg.MetricsAddr != "" {
		opsOpts = append(opsOpts, flexmetrics.WithAddr(cfg.MetricsAddr))
	}
	if a.ops, err = flexmetrics.New(opsOpts...); err != nil {
		return nil, err
	}

	public := newAPI(a.store, cfg, a.log)
	apiOpts := []flexhttp.Option{flexhttp.WithHealth(a.service.Health()), flexhttp.WithLogger(a.log)}
	if cfg.HTTPAddr != "" {
		apiOpts = append(apiOpts, flexhttp.WithAddr(cfg.HTTPAddr))
	}
	a.api, err = flexhttp.New(&http.Server{Handler: middleware.Wrap(public.handler())}, apiOpts...)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// close releases what outlives the workers: the in-process Kafka cluster
// and the database. Call it after start has returned.
func (a *app) close() error {
	var errs []error
	if a.kafka != nil {
		a.kafka.Close()
	}
	if a.writer != nil {
		a.writer.close()
	}
	for _, db := range []*sql.DB{a.writeDB, a.pipeDB, a.db} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}
