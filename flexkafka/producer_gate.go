package flexkafka

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/produce"
)

// errGateShut fails the writes a producer makes after Halt gave up.
var errGateShut = errors.New("flexkafka: producer abandoned at its halt deadline")

// gate is the transport of a producer's writer. When Halt gives up at its
// deadline, the messages still unacknowledged are reported as failed; the
// gate is then shut, so that the writer, which flushes on in the
// background, sends nothing more: every request fails at once and the
// produce requests in flight are cancelled. The writer's goroutines then end
// soon instead of retrying for as long as their attempts allow.
type gate struct {
	next   kafka.RoundTripper
	closed atomic.Bool     // read on every request: cheaper than shut.Err()
	shut   context.Context // done once the gate is shut
	cancel context.CancelFunc
}

func newGate(next kafka.RoundTripper) *gate {
	g := &gate{next: next}
	g.shut, g.cancel = context.WithCancel(context.Background())
	return g
}

// stop shuts the gate.
func (g *gate) stop() {
	g.closed.Store(true)
	g.cancel()
}

// RoundTrip sends req through the next transport while the gate is open.
func (g *gate) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	if g.closed.Load() {
		return nil, errGateShut
	}
	if _, ok := req.(*produce.Request); !ok {
		// Metadata is served from the transport's cache under the caller's
		// context: nothing to cancel on its behalf.
		return g.next.RoundTrip(ctx, addr, req)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.shut, cancel)()
	return g.next.RoundTrip(ctx, addr, req)
}
