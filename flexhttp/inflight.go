package flexhttp

import (
	"io"
	"net/http"
	"sync/atomic"
)

// inflight wraps a Server's handler to count the requests being handled
// and, of those, the ones whose body is still arriving. When a drain is cut
// short at its deadline, it tells a request that was being worked on (its
// body read, its handler perhaps writing to a database) from one whose
// client was still sending it: a handler cannot have acted on a body it has
// not received, so closing that connection loses nothing, and the client
// sees its upload fail and can retry it elsewhere.
type inflight struct {
	next      http.Handler
	handling  atomic.Int64 // handlers running
	receiving atomic.Int64 // of those, the ones whose body has not arrived
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.handling.Add(1)
	defer f.handling.Add(-1)
	if r.Body == nil || r.Body == http.NoBody {
		f.next.ServeHTTP(w, r)
		return
	}
	f.receiving.Add(1)
	b := &arrivingBody{ReadCloser: r.Body, f: f}
	defer b.arrived()
	r.Body = b
	f.next.ServeHTTP(w, r)
}

// working returns how many handlers are running with their whole body
// received (or with no body at all).
func (f *inflight) working() int64 {
	return f.handling.Load() - f.receiving.Load()
}

// arrivingBody marks its request's body as arrived at EOF, or when the
// handler closes it or returns: from then on the handler may act on it.
type arrivingBody struct {
	io.ReadCloser
	f    *inflight
	done atomic.Bool
}

func (b *arrivingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.arrived()
	}
	return n, err
}

func (b *arrivingBody) Close() error {
	b.arrived()
	return b.ReadCloser.Close()
}

func (b *arrivingBody) arrived() {
	if b.done.CompareAndSwap(false, true) {
		b.f.receiving.Add(-1)
	}
}
