package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexkafka"
)

func TestLoadConfigDefaults(t *testing.T) {
	for _, env := range []string{envDatabaseURL, envSQLitePath, envKafkaDataDir, envKafkaPrefix, envOutboxInterval, envPaymentTimeout, envExpirySpec, envIdempotencyTTL, envReconcileAfter, envReconcileSpec, envDBMaxConns, envDBPipeConns} {
		t.Setenv(env, "")
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "" || filepath.Base(cfg.SQLitePath) != "flexible-orders.db" ||
		cfg.OutboxInterval != 200*time.Millisecond || cfg.PaymentTimeout != 15*time.Minute || cfg.ExpirySpec != "@every 1m" ||
		cfg.IdempotencyTTL != 24*time.Hour || cfg.ReconcileAfter != 5*time.Minute || cfg.ReconcileSpec != "@every 1m" ||
		cfg.DBMaxConns != 8 || cfg.DBPipeConns != 4 || cfg.DBMetricsEvery != 15*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}

	t.Setenv(envSQLitePath, "/data/o.db")
	t.Setenv(envPaymentTimeout, "2h")
	t.Setenv(envKafkaPrefix, "staging.")
	t.Setenv(envIdempotencyTTL, "72h")
	t.Setenv(envReconcileAfter, "90s")
	t.Setenv(envReconcileSpec, "*/2 * * * *")
	t.Setenv(envDBMaxConns, "32")
	t.Setenv(envDBPipeConns, " 2 ")
	t.Setenv(envDBMetricsEvery, "1m")
	cfg, err = loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SQLitePath != "/data/o.db" || cfg.PaymentTimeout != 2*time.Hour || cfg.KafkaPrefix != "staging." ||
		cfg.IdempotencyTTL != 72*time.Hour || cfg.ReconcileAfter != 90*time.Second || cfg.ReconcileSpec != "*/2 * * * *" ||
		cfg.DBMaxConns != 32 || cfg.DBPipeConns != 2 || cfg.DBMetricsEvery != time.Minute {
		t.Errorf("from the environment = %+v", cfg)
	}
	if got := (topics{prefix: cfg.KafkaPrefix}).status(statusPaid); got != "staging.orders.paid" {
		t.Errorf("topic = %q, want staging.orders.paid", got)
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	for _, tt := range []struct{ env, value, want string }{
		{envOutboxInterval, "soon", `orders: invalid ORDERS_OUTBOX_INTERVAL "soon"`},
		{envPaymentTimeout, "-1m", `orders: invalid ORDERS_PAYMENT_TIMEOUT "-1m"`},
		{envExpirySpec, "every minute", `orders: invalid ORDERS_EXPIRY_SPEC "every minute"`},
		{envIdempotencyTTL, "0s", `orders: invalid ORDERS_IDEMPOTENCY_TTL "0s"`},
		{envReconcileAfter, "5", `orders: invalid ORDERS_RECONCILE_AFTER "5": want a positive Go duration such as "5m0s"`},
		{envReconcileAfter, "-1m", `orders: invalid ORDERS_RECONCILE_AFTER "-1m"`},
		{envReconcileSpec, "@every", `orders: invalid ORDERS_RECONCILE_SPEC "@every"`},
		{envDBMaxConns, "0", `orders: invalid ORDERS_DB_MAX_CONNS "0": want an integer from 1 to 10000, such as 8`},
		{envDBMaxConns, "many", `orders: invalid ORDERS_DB_MAX_CONNS "many"`},
		{envDBMaxConns, "99999", `orders: invalid ORDERS_DB_MAX_CONNS "99999"`},
		{envDBPipeConns, "-1", `orders: invalid ORDERS_DB_PIPELINE_CONNS "-1": want an integer from 1 to 10000, such as 4`},
		{envDBPipeConns, "2.5", `orders: invalid ORDERS_DB_PIPELINE_CONNS "2.5"`},
		{envDBMetricsEvery, "0s", `orders: invalid ORDERS_DB_METRICS_INTERVAL "0s": want a positive Go duration such as "15s"`},
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %s", err, tt.want)
			}
			if err := run(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want the same error before anything starts", err)
			}
		})
	}
}

// TestNewAppInvalid checks that bad settings of the modules stop the
// system before anything runs, with their errors.
func TestNewAppInvalid(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*config)
		env    map[string]string
		want   string
	}{
		{"http addr", func(c *config) { c.HTTPAddr = "abc" }, nil, `flexhttp: invalid WithAddr "abc"`},
		{"brokers env", nil, map[string]string{flexkafka.EnvBrokers: "kafka-0"}, `invalid FLEX_KAFKA_BROKERS "kafka-0"`},
		{"database", func(c *config) { c.SQLitePath = filepath.Join(t.TempDir(), "missing", "dir", "o.db") }, nil, "SQLite file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.env == nil {
				testKafka(t, &cfg)
			}
			if tt.change != nil {
				tt.change(&cfg)
			}
			_, err := newApp(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newApp = %v, want an error containing %s", err, tt.want)
			}
		})
	}
}
