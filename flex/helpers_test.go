package flex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/go-flexible/flexible/flex"
)

// probe is a Worker that records what is done to it. Run blocks until Halt
// (or its context is cancelled) unless runErr or exit says otherwise.
type probe struct {
	name    string
	exit    chan struct{} // closing it makes Run return runErr unasked
	runErr  error
	haltErr error
	onHalt  func(ctx context.Context) error // replaces the default Halt behaviour

	started chan struct{} // closed when Run is called
	halting chan struct{} // closed when Halt is called
	stop    chan struct{} // closed by the default Halt
	done    chan struct{} // closed when Run returns

	mu      sync.Mutex
	haltCtx context.Context
	runCtx  context.Context
	once    sync.Once
}

func newProbe(name string) *probe {
	return &probe{
		name:    name,
		exit:    make(chan struct{}),
		started: make(chan struct{}),
		halting: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (p *probe) String() string { return p.name }

func (p *probe) Run(ctx context.Context) error {
	p.mu.Lock()
	p.runCtx = ctx
	p.mu.Unlock()
	close(p.started)
	defer close(p.done)
	select {
	case <-p.exit:
		return p.runErr
	case <-p.stop:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *probe) Halt(ctx context.Context) error {
	p.mu.Lock()
	p.haltCtx = ctx
	p.mu.Unlock()
	p.once.Do(func() { close(p.halting) })
	if p.onHalt != nil {
		return p.onHalt(ctx)
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	return p.haltErr
}

func (p *probe) haltContext() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.haltCtx
}

// quiet returns options for a test service: no signals (unless the test
// sends them), no delay, a logger writing JSON to buf when given.
func quiet(buf *syncBuffer, extra ...flex.Option) []flex.Option {
	var h slog.Handler = slog.DiscardHandler
	if buf != nil {
		h = slog.NewJSONHandler(buf, nil)
	}
	opts := []flex.Option{flex.WithLogger(slog.New(h)), flex.WithSignals(), flex.WithShutdownDelay(0)}
	return append(opts, extra...)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// eventLog is an Observer that records events.
type eventLog struct {
	mu     sync.Mutex
	events []flex.Event
	notify map[flex.EventKind]chan struct{}
}

func newEventLog() *eventLog { return &eventLog{notify: map[flex.EventKind]chan struct{}{}} }

func (l *eventLog) Observe(e flex.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if ch, ok := l.notify[e.Kind]; ok {
		close(ch)
		delete(l.notify, e.Kind)
	}
}

// next returns a channel closed at the next event of kind k.
func (l *eventLog) next(k flex.EventKind) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.notify[k] = ch
	return ch
}

func (l *eventLog) all() []flex.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]flex.Event(nil), l.events...)
}

// startAsync runs svc.Start in a goroutine and returns its result channel.
func startAsync(ctx context.Context, svc *flex.Service, workers ...flex.Worker) chan error {
	result := make(chan error, 1)
	go func() { result <- svc.Start(ctx, workers...) }()
	return result
}
