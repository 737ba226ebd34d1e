package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
	"github.com/go-flexible/flexible/flexkafka"
)

// Environment variables of the order system itself. The modules read their
// own: FLEX_HTTP_ADDR, FLEX_METRICS_ADDR, FLEX_KAFKA_BROKERS,
// FLEX_SHUTDOWN_TIMEOUT and the rest (see README.md).
const (
	envDatabaseURL    = "DATABASE_URL"
	envSQLitePath     = "ORDERS_SQLITE_PATH"
	envKafkaDataDir   = "ORDERS_KAFKA_DATA_DIR"
	envKafkaPrefix    = "ORDERS_KAFKA_PREFIX"
	envOutboxInterval = "ORDERS_OUTBOX_INTERVAL"
	envPaymentTimeout = "ORDERS_PAYMENT_TIMEOUT"
	envExpirySpec     = "ORDERS_EXPIRY_SPEC"
	envIdempotencyTTL = "ORDERS_IDEMPOTENCY_TTL"
	envReconcileAfter = "ORDERS_RECONCILE_AFTER"
	envReconcileSpec  = "ORDERS_RECONCILE_SPEC"
	envDBMaxConns     = "ORDERS_DB_MAX_CONNS"
	envDBPipeConns    = "ORDERS_DB_PIPELINE_CONNS"
	envDBMetricsEvery = "ORDERS_DB_METRICS_INTERVAL"
)

// Default sizes of the two connection pools (see pools.go). The API's is
// enough for PostgreSQL to group the commits of concurrent requests, and
// small enough that a herd of clients reconnecting after a restart does not
// make PostgreSQL fork a backend for each, nor leave the pipeline's few
// connections a sliver of two cores; the pipeline's has one connection per
// consumer, one for the relay and one for the cron jobs.
const (
	defaultDBMaxConns  = 8
	defaultDBPipeConns = 4
	maxDBConnsAccepted = 10000 // a larger value is a typo, not a plan
)

// config is the configuration of the order system: loadConfig fills it
// from the environment, and tests build it in code.
type config struct {
	DatabaseURL string // PostgreSQL; empty means SQLite at SQLitePath
	SQLitePath  string

	// Brokers are the Kafka brokers. Empty means FLEX_KAFKA_BROKERS, read
	// by flexkafka, or when that is not set either, an in-process cluster
	// keeping its data in KafkaDataDir.
	Brokers      []string
	KafkaDataDir string
	KafkaPrefix  string // prefixes topics and consumer groups

	OutboxInterval time.Duration // how often the relay polls the outbox
	PaymentTimeout time.Duration // how long an order may stay unpaid
	ExpirySpec     string        // cron spec of the expiry job
	IdempotencyTTL time.Duration // how long an Idempotency-Key is kept; 0 means 24h
	ReconcileAfter time.Duration // how long an order may sit in created or paid before it is re-driven; 0 means 5m
	ReconcileSpec  string        // cron spec of the reconcile job; empty means "@every 1m"
	DBMaxConns     int           // the API's connections at most; 0 means defaultDBMaxConns
	DBPipeConns    int           // the relay's, consumers' and cron's connections at most; 0 means defaultDBPipeConns
	DBMetricsEvery time.Duration // how old the counts of orders_by_status and the outbox gauges may get; 0 means defaultDBMetricsInterval

	// Set in code only; empty means the modules' environment and defaults.
	SQLiteBusyTimeout time.Duration              // how long an SQLite writer waits for the lock; 0 means 10s
	OutboxPollOnly    bool                       // the relay only polls, not woken by commits (tests of its last pass)
	RetryBackoffMin   time.Duration              // the consumers' retry backoff; 0 means flexkafka's default
	RetryBackoffMax   time.Duration              // 0 means flexkafka's default
	HTTPAddr          string                     // public API
	MetricsAddr       string                     // operations server
	Logger            *slog.Logger               // nil means slog.Default()
	ServiceOptions    []flex.Option              // added to the service's
	ConsumerOptions   []flexkafka.ConsumerOption // added to both consumers'
}

// loadConfig reads the configuration from the environment, with defaults.
// An invalid value is reported with the variable's name and value.
func loadConfig() (config, error) {
	cfg := config{
		DatabaseURL:   os.Getenv(envDatabaseURL),
		SQLitePath:    getenv(envSQLitePath, filepath.Join(os.TempDir(), "flexible-orders.db")),
		KafkaDataDir:  getenv(envKafkaDataDir, filepath.Join(os.TempDir(), "flexible-orders-kafka")),
		KafkaPrefix:   os.Getenv(envKafkaPrefix),
		ExpirySpec:    getenv(envExpirySpec, "@every 1m"),
		ReconcileSpec: getenv(envReconcileSpec, defaultReconcileSpec),
	}
	var err error
	if cfg.OutboxInterval, err = durationEnv(envOutboxInterval, 200*time.Millisecond); err != nil {
		return cfg, err
	}
	if cfg.PaymentTimeout, err = durationEnv(envPaymentTimeout, 15*time.Minute); err != nil {
		return cfg, err
	}
	if cfg.IdempotencyTTL, err = durationEnv(envIdempotencyTTL, defaultIdempotencyTTL); err != nil {
		return cfg, err
	}
	if cfg.ReconcileAfter, err = durationEnv(envReconcileAfter, defaultReconcileAfter); err != nil {
		return cfg, err
	}
	if cfg.DBMetricsEvery, err = durationEnv(envDBMetricsEvery, defaultDBMetricsInterval); err != nil {
		return cfg, err
	}
	if cfg.DBMaxConns, err = countEnv(envDBMaxConns, defaultDBMaxConns); err != nil {
		return cfg, err
	}
	if cfg.DBPipeConns, err = countEnv(envDBPipeConns, defaultDBPipeConns); err != nil {
		return cfg, err
	}
	if _, err := flexcron.Parse(cfg.ExpirySpec, nil); err != nil {
		return cfg, fmt.Errorf("orders: invalid %s %q: %w", envExpirySpec, cfg.ExpirySpec, err)
	}
	if _, err := flexcron.Parse(cfg.ReconcileSpec, nil); err != nil {
		return cfg, fmt.Errorf("orders: invalid %s %q: %w", envReconcileSpec, cfg.ReconcileSpec, err)
	}
	return cfg, nil
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// durationEnv reads a positive Go duration from the environment.
func durationEnv(key string, def time.Duration) (time.Duration, error) {
	raw := os.Getenv(key)
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("orders: invalid %s %q: want a positive Go duration such as %q", key, raw, def.String())
	}
	return d, nil
}

// countEnv reads a count of connections from the environment: an integer
// from 1 to maxDBConnsAccepted.
func countEnv(key string, def int) (int, error) {
	raw := os.Getenv(key)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > maxDBConnsAccepted {
		return 0, fmt.Errorf("orders: invalid %s %q: want an integer from 1 to %d, such as %d", key, raw, maxDBConnsAccepted, def)
	}
	return n, nil
}
