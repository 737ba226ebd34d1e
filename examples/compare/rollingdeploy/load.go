package main

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// tally counts the outcomes of a load run. It is safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	requests int
	counts   [kinds]int
	slowest  time.Duration
	examples []string // the first few failures, for -v
}

// add records one request that took took.
func (t *tally) add(k kind, took time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.counts[k]++
	t.slowest = max(t.slowest, took)
	if k != ok && len(t.examples) < 5 {
		msg := k.String()
		if err != nil {
			msg += ": " + err.Error()
		}
		t.examples = append(t.examples, msg)
	}
}

// failed is the number of requests that did not succeed.
func (t *tally) failed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests - t.counts[ok]
}

// generator sends requests open-loop: one every 1/rate, each on its own
// goroutine, whether or not the earlier ones have been answered, so that a
// stall shows as slow requests rather than as a lower rate. A request's time
// is counted from when it was due, not from when it was sent.
type generator struct {
	client *http.Client
	method string
	url    string
	rate   int
	want   []byte
	tally  tally
	wg     sync.WaitGroup
}

// newGenerator returns a generator for url with its own keep-alive pool.
func newGenerator(method, url string, rate int, want []byte) *generator {
	transport := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	return &generator{
		client: &http.Client{Transport: transport, Timeout: 60 * time.Second},
		method: method, url: url, rate: rate, want: want,
	}
}

// run sends requests until ctx ends, then waits for the last answers.
func (g *generator) run(ctx context.Context) {
	interval := time.Second / time.Duration(g.rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			g.wg.Wait()
			g.client.CloseIdleConnections()
			return
		case <-timer.C:
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			// Not ctx: the last requests sent must still be answered.
			k, err := fetch(context.Background(), g.client, g.method, g.url, g.want)
			g.tally.add(k, time.Since(due), err)
		}()
	}
}
