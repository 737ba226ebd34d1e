package main

import (
	"sync"
	"time"
)

// stats collects the results of the requests sent, from any goroutine.
type stats struct {
	mu       sync.Mutex
	all      histogram
	byOp     map[string]*histogram
	errors   map[string]int // by status ("503") or transport error kind ("refused")
	failures int            // requests that failed (see result.failed)
	conflict int            // cancels answered 409: the order was paid first
}

func newStats() *stats {
	return &stats{byOp: map[string]*histogram{}, errors: map[string]int{}}
}

// observe records one request's result.
func (s *stats) observe(r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.record(r.took)
	h := s.byOp[r.op]
	if h == nil {
		h = new(histogram)
		s.byOp[r.op] = h
	}
	h.record(r.took)
	if r.failed() {
		s.failures++
		s.errors[r.errorLabel()]++
	}
	if r.op == opCancel && r.status == 409 {
		s.conflict++
	}
}

// progress is what the live progress line shows.
type progress struct {
	requests uint64
	errors   int
	p99      time.Duration
}

func (s *stats) progress() progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return progress{requests: s.all.count(), errors: s.failures, p99: s.all.quantile(0.99)}
}
