package main

import (
	"slices"
	"sync"
)

// book records the orders loadgen created (answered 201) and the states
// it saw them in, and the creates whose outcome it does not know (no
// answer, or 503 after every retry), to send again with the same
// Idempotency-Key before the audit.
type book struct {
	mu        sync.Mutex
	ids       []string                   // in creation order
	seen      map[string]map[string]bool // id → states observed
	uncertain []createAttempt
}

func newBook() *book { return &book{seen: map[string]map[string]bool{}} }

// created records an order answered 201, in state created.
func (b *book) created(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[id] == nil { // a replayed create answers the same ID again
		b.ids = append(b.ids, id)
		b.seen[id] = map[string]bool{}
	}
	b.seen[id]["created"] = true
}

// saw records that id was observed in state.
func (b *book) saw(id, state string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.seen[id]; m != nil && state != "" {
		m[state] = true
	}
}

// everSeen reports whether id was observed in state.
func (b *book) everSeen(id, state string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[id][state]
}

func (b *book) unknown(a createAttempt) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.uncertain = append(b.uncertain, a)
}

// orders returns the IDs of the orders created, oldest first.
func (b *book) orders() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ids)
}

// count returns the number of orders created.
func (b *book) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ids)
}

// uncertainCount returns the number of creates of unknown outcome.
func (b *book) uncertainCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.uncertain)
}

// takeUncertain returns the creates of unknown outcome and forgets them.
func (b *book) takeUncertain() []createAttempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.uncertain
	b.uncertain = nil
	return u
}
