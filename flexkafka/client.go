package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// dialTimeout bounds each connection attempt to a broker.
const dialTimeout = 10 * time.Second

// newDialer returns the dialer of the consumer group and partition readers.
func newDialer(c Config) *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       dialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

// newTransport returns the transport of writers and admin requests. Each
// worker has its own: two workers share no connection.
func newTransport(c Config) *kafka.Transport {
	return &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: dialTimeout,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// newWriter returns a kafka.Writer with the deliberate defaults of cfg,
// sending through transport.
func newWriter(cfg producerConfig, transport kafka.RoundTripper) *kafka.Writer {
	balancer := cfg.balancer
	if balancer == nil {
		balancer = kafka.CRC32Balancer{}
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(cfg.conn.Brokers...),
		Transport:    transport,
		Balancer:     balancer,
		RequiredAcks: cfg.requiredAcks,
		BatchSize:    cfg.batchSize,
		BatchTimeout: cfg.batchTimeout,
		MaxAttempts:  cfg.writeAttempts,
		Logger:       kafkaLogger(cfg.logger, "kafka-go writer"),
	}
}

// kafkaLogger adapts slog to kafka-go's chatty logger, at debug level:
// the errors that matter are reported by flexkafka itself.
func kafkaLogger(l *slog.Logger, source string) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug(fmt.Sprintf(format, args...), "source", source)
		}
	})
}

// reachable reports whether any of brokers accepts a connection under ctx,
// through the dialer (so with its TLS and SASL). It dials afresh: a
// cached connection or metadata would hide a broker that is gone.
func reachable(ctx context.Context, d *kafka.Dialer, brokers []string) error {
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			conn.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("flexkafka: no broker reachable of %v: %w", brokers, errors.Join(errs...))
}
