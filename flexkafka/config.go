package flexkafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// Environment variables read by [NewConsumer] and [NewProducer]. A value
// given in code (an option or [WithConfig]) takes precedence over the
// environment.
const (
	// EnvBrokers lists the bootstrap brokers as comma-separated host:port
	// pairs, such as "kafka-0:9092,kafka-1:9092". Read by both workers.
	EnvBrokers = "FLEX_KAFKA_BROKERS"

	// EnvGroupID is the consumer group. Read by [NewConsumer] only.
	EnvGroupID = "FLEX_KAFKA_GROUP_ID"

	// EnvTopics lists the topics to consume, comma separated. Read by
	// [NewConsumer] only: a producer names its topic in code.
	EnvTopics = "FLEX_KAFKA_TOPICS"
)

// Config is how to reach a Kafka cluster and what to consume. Give it with
// [WithConfig]; fields left zero are read from the environment.
type Config struct {
	// Brokers are the bootstrap brokers, each host:port. Required.
	Brokers []string

	// GroupID is the consumer group. Required by a Consumer, unused by a
	// Producer.
	GroupID string

	// Topics are the topics to consume. Required by a Consumer. A Producer
	// accepts at most one: the topic of messages that name none.
	Topics []string

	// TLS, when not nil, enables TLS with this configuration.
	TLS *tls.Config

	// SASL, when not nil, authenticates with this mechanism, such as
	// plain.Mechanism or scram.Mechanism from kafka-go's sasl packages.
	SASL sasl.Mechanism

	// ClientID names this client to the brokers, for their logs and quotas.
	// Empty means "flexkafka".
	ClientID string
}

// Validate reports the first problem with c: no broker, a broker that is
// not host:port, or an invalid topic name. It does not require GroupID or
// Topics, which only a Consumer needs.
func (c Config) Validate() error {
	return c.validate(sources{brokers: "Config.Brokers", groupID: "Config.GroupID", topics: "Config.Topics"})
}

// sources names where each field came from, for error messages.
type sources struct{ brokers, groupID, topics string }

func (c Config) validate(src sources) error {
	raw := strings.Join(c.Brokers, ",")
	if len(c.Brokers) == 0 {
		return fmt.Errorf("flexkafka: invalid %s %q: at least one broker is required", src.brokers, raw)
	}
	for _, b := range c.Brokers {
		if err := validateBroker(b); err != nil {
			if len(c.Brokers) > 1 {
				err = fmt.Errorf("broker %q: %w", b, err)
			}
			return fmt.Errorf("flexkafka: invalid %s %q: %w", src.brokers, raw, err)
		}
	}
	for _, t := range c.Topics {
		if err := validateTopic(t); err != nil {
			return fmt.Errorf("flexkafka: invalid %s %q: %w", src.topics, strings.Join(c.Topics, ","), err)
		}
	}
	return nil
}

func validateBroker(b string) error {
	if b == "" {
		return errors.New("empty broker address")
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) && addrErr.Err == "missing port in address" {
			return errors.New("missing port")
		}
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// validateTopic applies Kafka's rules for topic names.
func validateTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic name")
	case t == "." || t == "..":
		return fmt.Errorf("topic %q: not a legal name", t)
	case len(t) > 249:
		return fmt.Errorf("topic %q: longer than 249 characters", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic %q: may contain only ASCII letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}

// splitList splits a comma-separated environment value, trimming spaces and
// keeping empty elements so that validation can name them.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// overlayEnv fills the fields of c that code left empty from the
// environment and returns where each field came from: src for those set in
// code. groupAndTopics is false for a producer.
func (c *Config) overlayEnv(groupAndTopics bool, src sources) sources {
	if len(c.Brokers) == 0 {
		c.Brokers, src.brokers = splitList(os.Getenv(EnvBrokers)), EnvBrokers
	}
	if !groupAndTopics {
		return src
	}
	if c.GroupID == "" {
		c.GroupID, src.groupID = strings.TrimSpace(os.Getenv(EnvGroupID)), EnvGroupID
	}
	if len(c.Topics) == 0 {
		c.Topics, src.topics = splitList(os.Getenv(EnvTopics)), EnvTopics
	}
	return src
}
