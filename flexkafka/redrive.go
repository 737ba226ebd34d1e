package flexkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// HeaderRedriven is added to a re-driven message: the dead letter it came
// from, as topic/partition@offset. Re-driving the same dead letter twice
// gives two messages with the same value of it.
const HeaderRedriven = "flexkafka-redriven"

// redriveBatch is how many dead letters a re-drive reads, writes and
// commits at a time.
const redriveBatch = 100

// RedriveOptions configures [Redrive].
type RedriveOptions struct {
	// Config says how to reach the cluster (Brokers, or FLEX_KAFKA_BROKERS
	// when empty; TLS, SASL, ClientID). Its GroupID is required: the group
	// whose committed offsets on the dead-letter topic record the
	// re-drive's progress, so that a re-drive with the same GroupID
	// resumes after the last dead letter it handled. Give the re-drive a
	// group of its own: Kafka refuses its commits in a group that has
	// members. Topics is unused.
	Config Config

	// Topic is the dead-letter topic to read. Required.
	Topic string

	// The filter: a dead letter is re-driven when it matches every field
	// set, and skipped otherwise. Skipped dead letters are committed past
	// too: re-drive them with another GroupID.
	OriginTopics       []string  // its origin topic is one of these; empty: any
	DeadLetteredAfter  time.Time // dead-lettered at or after this time; zero: any
	DeadLetteredBefore time.Time // dead-lettered before this time; zero: any
	ErrorContains      string    // its error header contains this text; empty: any

	// Logger logs progress; nil means slog.Default().
	Logger *slog.Logger
}

// RedriveResult counts what a [Redrive] did.
type RedriveResult struct {
	Read     int // dead letters read
	Redriven int // written back to their origin topics
	Skipped  int // not matching the filter, or not flexkafka dead letters
}

// Redrive moves the dead letters of opts.Topic back to the topics and
// partitions they came from, as told by their [HeaderDLQTopic] and
// [HeaderDLQPartition] headers, so that the consumers handle them again;
// typically after the bug or outage that made them fail is fixed. It
// reads each partition of the dead-letter topic from the group's committed
// offset up to its end as of the start (dead letters that arrive
// meanwhile wait for the next re-drive), writes the matching ones with
// their original key, value and headers (the dead-letter headers replaced
// by [HeaderRedriven]), waiting for all in-sync replicas, and commits its
// progress after each batch written.
//
// Delivery is at least once: when Redrive is interrupted between a write
// and its commit, or when the same dead letters are re-driven under two
// GroupIDs, messages are delivered twice. Handlers must be idempotent.
//
// Redrive returns what it did and the first error. When ctx is cancelled
// it stops and returns an error wrapping ctx.Err(); what it committed is
// not re-driven again by a later call with the same GroupID.
func Redrive(ctx context.Context, opts RedriveOptions) (RedriveResult, error) {
	var res RedriveResult
	r, err := newRedriver(opts)
	if err != nil {
		return res, err
	}
	defer r.transport.CloseIdleConnections()
	ranges, err := r.ranges(ctx)
	if err != nil {
		return res, err
	}
	for _, pr := range ranges {
		if err := r.partition(ctx, pr, &res); err != nil {
			return res, err
		}
	}
	r.log.Info("flexkafka: re-drive done", "topic", opts.Topic, "group", opts.Config.GroupID,
		"read", res.Read, "redriven", res.Redriven, "skipped", res.Skipped)
	return res, nil
}

type redriver struct {
	opts      RedriveOptions
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
}

func newRedriver(opts RedriveOptions) (*redriver, error) {
	cfg := opts.Config
	src := cfg.overlayEnv(false, sources{brokers: "RedriveOptions.Config.Brokers", groupID: "RedriveOptions.Config.GroupID", topics: "RedriveOptions.Config.Topics"})
	if err := cfg.validate(src); err != nil {
		return nil, err
	}
	if cfg.GroupID == "" {
		return nil, fmt.Errorf("flexkafka: invalid RedriveOptions.Config.GroupID %q: a group is required to record the re-drive's progress", cfg.GroupID)
	}
	if err := validateTopic(opts.Topic); err != nil {
		return nil, fmt.Errorf("flexkafka: invalid RedriveOptions.Topic %q: %v", opts.Topic, err)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "flexkafka"
	}
	opts.Config = cfg
	r := &redriver{opts: opts, log: opts.Logger, dialer: newDialer(cfg), transport: newTransport(cfg)}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: r.transport, Timeout: 10 * time.Second}
	return r, nil
}

// partitionRange is what is left to re-drive on one partition.
type partitionRange struct {
	partition  int
	start, end int64 // [start, end)
}

// ranges returns, per partition of the dead-letter topic, the offsets from
// the group's committed one to the end.
func (r *redriver) ranges(ctx context.Context) ([]partitionRange, error) {
	topic, group := r.opts.Topic, r.opts.Config.GroupID
	meta, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("flexkafka: re-drive %q: metadata: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		var terr error
		if len(meta.Topics) == 1 {
			terr = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("flexkafka: re-drive %q: no such topic: %v", topic, terr)
	}
	var ids []int
	offsetReqs := map[string][]kafka.OffsetRequest{}
	for _, p := range meta.Topics[0].Partitions {
		ids = append(ids, p.ID)
		offsetReqs[topic] = append(offsetReqs[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	fetched, err := r.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, fmt.Errorf("flexkafka: re-drive %q: committed offsets of group %q: %w", topic, group, err)
	}
	if fetched.Error != nil && !errors.Is(fetched.Error, kafka.GroupIdNotFound) { // a new group: nothing committed
		return nil, fmt.Errorf("flexkafka: re-drive %q: committed offsets of group %q: %w", topic, group, fetched.Error)
	}
	committedAt := map[int]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("flexkafka: re-drive %q: committed offset of partition %d for group %q: %w", topic, p.Partition, group, p.Error)
		}
		committedAt[p.Partition] = p.CommittedOffset
	}
	listed, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offsetReqs})
	if err != nil {
		return nil, fmt.Errorf("flexkafka: re-drive %q: offsets: %w", topic, err)
	}
	var out []partitionRange
	for _, o := range listed.Topics[topic] {
		if o.Error != nil {
			return nil, fmt.Errorf("flexkafka: re-drive %q: offsets of partition %d: %w", topic, o.Partition, o.Error)
		}
		start := o.FirstOffset
		if c, ok := committedAt[o.Partition]; ok && c > start {
			start = c
		}
		if start < o.LastOffset {
			out = append(out, partitionRange{partition: o.Partition, start: start, end: o.LastOffset})
		}
	}
	return out, nil
}

// partition re-drives one partition's range, a batch at a time.
func (r *redriver) partition(ctx context.Context, pr partitionRange, res *RedriveResult) error {
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   r.opts.Config.Brokers,
		Topic:     r.opts.Topic,
		Partition: pr.partition,
		Dialer:    r.dialer,
		MaxWait:   100 * time.Millisecond,
		Logger:    kafkaLogger(r.log, "kafka-go reader"),
	})
	defer reader.Close()
	if err := reader.SetOffset(pr.start); err != nil {
		return fmt.Errorf("flexkafka: re-drive %s/%d: %w", r.opts.Topic, pr.partition, err)
	}
	for next := pr.start; next < pr.end; {
		var batch []kafka.Message
		for len(batch) < redriveBatch && next < pr.end {
			m, err := reader.FetchMessage(ctx)
			if err != nil {
				return fmt.Errorf("flexkafka: re-drive %s/%d at offset %d: %w", r.opts.Topic, pr.partition, next, err)
			}
			batch = append(batch, m)
			next = m.Offset + 1
		}
		if err := r.write(ctx, batch, res); err != nil {
			return err
		}
		if err := r.commit(ctx, pr.partition, next); err != nil {
			return err
		}
	}
	return nil
}

// write writes the matching dead letters of batch back to their origins,
// grouped by origin partition.
func (r *redriver) write(ctx context.Context, batch []kafka.Message, res *RedriveResult) error {
	type origin struct {
		topic     string
		partition int
	}
	var order []origin
	records := map[origin][]kafka.Record{}
	for _, m := range batch {
		res.Read++
		topic, partition, ok := r.match(m)
		if !ok {
			res.Skipped++
			continue
		}
		o := origin{topic, partition}
		if records[o] == nil {
			order = append(order, o)
		}
		records[o] = append(records[o], redriven(m))
	}
	for _, o := range order {
		resp, err := r.client.Produce(ctx, &kafka.ProduceRequest{Topic: o.topic, Partition: o.partition,
			RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(records[o]...)})
		if err == nil {
			err = resp.Error
			for _, rerr := range resp.RecordErrors {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil {
			return fmt.Errorf("flexkafka: re-drive to %s/%d: %w", o.topic, o.partition, err)
		}
		res.Redriven += len(records[o])
	}
	return nil
}

// match reports whether m passes the filter, and where it came from.
func (r *redriver) match(m kafka.Message) (topic string, partition int, ok bool) {
	topic = header(m, HeaderDLQTopic)
	partition, err := strconv.Atoi(header(m, HeaderDLQPartition))
	if topic == "" || err != nil || partition < 0 {
		r.log.Warn("flexkafka: re-drive: skipping a message without flexkafka dead-letter headers",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return "", 0, false
	}
	// Headers can be written by anyone who can write to the topic. A topic
	// Kafka refuses would fail the whole re-drive, on every retry, and a
	// partition past the protocol's int32 would wrap to another one.
	if validateTopic(topic) != nil || partition > math.MaxInt32 {
		r.log.Warn("flexkafka: re-drive: skipping a dead letter whose origin is not a valid topic and partition",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
			"origin_topic", topic, "origin_partition", header(m, HeaderDLQPartition))
		return "", 0, false
	}
	f := r.opts
	if len(f.OriginTopics) > 0 && !slices.Contains(f.OriginTopics, topic) {
		return "", 0, false
	}
	if f.ErrorContains != "" && !strings.Contains(header(m, HeaderDLQError), f.ErrorContains) {
		return "", 0, false
	}
	if !f.DeadLetteredAfter.IsZero() || !f.DeadLetteredBefore.IsZero() {
		at, err := time.Parse(time.RFC3339Nano, header(m, HeaderDLQTime))
		if err != nil {
			at = m.Time // dead-lettered before the header existed: the write time is close
		}
		if !f.DeadLetteredAfter.IsZero() && at.Before(f.DeadLetteredAfter) ||
			!f.DeadLetteredBefore.IsZero() && !at.Before(f.DeadLetteredBefore) {
			return "", 0, false
		}
	}
	return topic, partition, true
}

// redriven returns the record that re-drives dead letter m.
func redriven(m kafka.Message) kafka.Record {
	headers := make([]kafka.Header, 0, len(m.Headers)+1)
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, headerDLQPrefix) && h.Key != HeaderRedriven {
			headers = append(headers, h)
		}
	}
	headers = append(headers, kafka.Header{Key: HeaderRedriven,
		Value: []byte(m.Topic + "/" + strconv.Itoa(m.Partition) + "@" + strconv.FormatInt(m.Offset, 10))})
	rec := kafka.Record{Value: kafka.NewBytes(m.Value), Headers: headers}
	if m.Key != nil {
		rec.Key = kafka.NewBytes(m.Key)
	}
	return rec
}

// commit records the re-drive's progress on partition: next is the first
// offset not re-driven yet.
func (r *redriver) commit(ctx context.Context, partition int, next int64) error {
	topic, group := r.opts.Topic, r.opts.Config.GroupID
	resp, err := r.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: partition, Offset: next}}}})
	if err == nil {
		for _, p := range resp.Topics[topic] {
			err = errors.Join(err, p.Error)
		}
	}
	if err != nil {
		return fmt.Errorf("flexkafka: re-drive %s/%d: commit offset %d for group %q: %w", topic, partition, next, group, err)
	}
	return nil
}

// header returns the value of m's last header named key.
func header(m kafka.Message, key string) string {
	v := ""
	for _, h := range m.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}
