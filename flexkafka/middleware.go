package flexkafka

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/go-flexible/flexible/flex"
	"github.com/segmentio/kafka-go"
)

// Middleware wraps a [BatchHandler] (a [Handler] is wrapped as a batch of
// one) with a policy: retry, dead-lettering, tracing, metrics. The
// consumer's core only fetches, dispatches and commits; what happens to a
// failed message is decided by its middleware.
//
// What comes out of the outermost middleware decides the message's fate:
// nil commits it; an error stops the consumer, and Run returns it in a
// [*HandlerError], leaving the message uncommitted. The consumer counts
// handler calls, applies [WithHandlerTimeout] and turns panics into a
// *flex.PanicError inside every middleware, next to the handler, so that
// [Attempt] is true whatever the chain.
type Middleware func(next BatchHandler) BatchHandler

// chain wraps h in mws, the first outermost.
func chain(mws []Middleware, h BatchHandler) BatchHandler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// middleware returns the consumer's chain: the one given to
// WithMiddleware, or the default one built from the options.
func (c *Consumer) middleware() []Middleware {
	if c.cfg.middlewareSet {
		return c.cfg.middleware
	}
	var mws []Middleware
	if c.cfg.deadLetterTopic != "" {
		mws = append(mws, DeadLetter(c.cfg.deadLetterTopic, nil))
	}
	return append(mws, Retry(RetryPolicy{
		BackoffMin: c.cfg.backoffMin,
		BackoffMax: c.cfg.backoffMax,
		MaxElapsed: c.cfg.maxRetryTime,
		Permanent:  c.cfg.permanent,
	}))
}

// delivery is one dispatch of messages to the handler chain, found in the
// chain's context. It carries what middleware need from the consumer.
type delivery struct {
	c       *Consumer
	p       *partitionState
	msgs    []kafka.Message
	key     retryKey
	stop    <-chan struct{} // closed when retries must stop: Halt or the end of the generation
	stopped context.Context // done when stop is closed

	mu       sync.Mutex
	dead     int // messages dead-lettered: handled, but not successfully
	attempt0 int // handler calls before this delivery, from earlier generations
	calls    int // handler calls in this delivery
}

type deliveryKey struct{}

func (c *Consumer) newDelivery(g *generation, p *partitionState, msgs []kafka.Message) *delivery {
	d := &delivery{c: c, p: p, msgs: msgs, stop: g.stopped.Done(), stopped: g.stopped,
		key: retryKey{topic: p.topic, partition: p.partition, offset: msgs[0].Offset}}
	d.attempt0 = c.retries.attempts(d.key)
	return d
}

func withDelivery(ctx context.Context, d *delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

func deliveryFrom(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

// Attempt returns which call of the handler for the current message this
// is, 1 for the first, counting the calls of earlier group generations in
// this process too; 0 when ctx is not a handler's context. Middleware and
// handlers can read it from the context they are given.
func Attempt(ctx context.Context) int {
	if d := deliveryFrom(ctx); d != nil {
		return d.attempts()
	}
	return 0
}

// attempts returns the handler calls for the message so far.
func (d *delivery) attempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempt0 + d.calls
}

// attempt wraps the handler with what every chain needs, innermost: it
// counts the call, bounds it by the handler timeout, marks the partition
// busy (see reportStuck) and turns a panic into a *flex.PanicError.
func (c *Consumer) attempt(h BatchHandler) BatchHandler {
	return func(ctx context.Context, msgs []kafka.Message) (err error) {
		d := deliveryFrom(ctx)
		d.mu.Lock()
		d.calls++
		d.mu.Unlock()
		msg := msgs[0]
		ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.handlerTimeout, ErrHandlerTimeout)
		d.p.setBusy(msg.Offset)
		defer func() {
			cancel()
			if v := recover(); v != nil {
				stack := debug.Stack()
				err = &flex.PanicError{Worker: c.String(), Op: "handler", Value: v, Stack: stack}
				c.log.Error("flexkafka: handler panicked", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "panic", fmt.Sprint(v), "stack", string(stack))
			}
			if stuck := d.p.setIdle(); stuck {
				c.log.Warn("flexkafka: stuck handler returned", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "error", err)
			}
			if err != nil {
				c.counters.errors.Add(1)
				c.retries.failed(d, err)
			}
		}()
		return h(ctx, msgs)
	}
}
