//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// storm sends a bad-input storm at the order system: malformed, huge and
// chunked bodies, bad UTF-8, NUL and control characters in every field,
// bad path ids and headers, slow headers and idle connections. No answer
// may be a 5xx. Afterwards the server must have closed the connections
// that never finished a request, its goroutines must be back to their
// baseline, its memory back to its baseline under the same load, and the
// workflow must pass the audit.
func storm(ctx context.Context, e *scenarioEnv, db database) error {
	r, err := e.startReplica(ctx, "orders", db)
	if err != nil {
		return err
	}
	// The baseline is taken after a load like the one that follows the
	// storm, so that pools, caches and the heap are at their working size.
	l := e.load(e.scaled(8*time.Second, 5*time.Second))
	warm, err := e.startLoad("warmup", r.url(), db, l)
	if err != nil {
		return err
	}
	warm.wait(ctx, e.r)
	baseG, err := settledGoroutines(ctx, r)
	if err != nil {
		return err
	}
	baseRSS, err := scrape(r.opsURL(), "process_resident_memory_bytes")
	if err != nil {
		return err
	}

	pgBefore := e.pgInputErrors(db)
	st := runStorm(ctx, r.api, e.scaled(30*time.Second, 10*time.Second), e.short)
	if n := e.pgInputErrors(db) - pgBefore; n > 0 {
		// Each would be a log line an attacker writes at will.
		e.r.failf("the storm made PostgreSQL log %d errors about bad input: the API let it through", n)
	}
	for label, n := range st.counts {
		// 505 is what RFC 9110 prescribes for the request that asks for
		// HTTP/9.9; net/http sends it before any handler runs.
		if strings.HasPrefix(label, "5") && label != "505" {
			e.r.failf("the storm got %d answers %s", n, label)
		}
	}
	e.r.note("storm: %d requests and connections, answers %s", st.total(), countsOf(st.counts))

	// Slow and idle connections are closed by the server's header
	// timeout (10 s); after that nothing of the storm may remain.
	g, waited := waitGoroutines(ctx, r, baseG+goroutineSlack, 60*time.Second)
	if g > baseG+goroutineSlack {
		e.r.failf("goroutines %.0f a minute after the storm, baseline %.0f", g, baseG)
	}
	if n := st.stillOpen(); n > 0 {
		e.r.failf("%d slow or idle connections still open after the storm", n)
	}
	after, err := e.startLoad("after", r.url(), db, l)
	if err != nil {
		return err
	}
	after.wait(ctx, e.r)
	rss, err := scrape(r.opsURL(), "process_resident_memory_bytes")
	if err != nil {
		return err
	}
	if limit := rssLimit(baseRSS); rss > limit {
		e.r.failf("RSS %s after the storm and the same load, baseline %s, limit %s", mib(rss), mib(baseRSS), mib(limit))
	}
	e.r.note("goroutines %.0f → %.0f within %s; RSS %s → %s", baseG, g, waited.Round(time.Second), mib(baseRSS), mib(rss))
	return nil
}

// pgInputErrors counts the errors about bad input in the log of the
// suite's PostgreSQL, when db is there; 0 otherwise.
func (e *scenarioEnv) pgInputErrors(db database) int {
	if e.pg == nil || !strings.HasPrefix(db.audit, "postgres://") {
		return 0
	}
	_, input := e.pg.errorLines()
	return input
}

// goroutineSlack is how many goroutines above the baseline still count as
// the baseline: client connections to PostgreSQL and Kafka come and go.
const goroutineSlack = 10

// rssLimit is the most memory the order system may hold after the storm
// and the same load as before it: its baseline, plus a quarter for the
// heap's own variation, plus 16 MiB for the pages the Go runtime has not
// yet returned to the system.
func rssLimit(base float64) float64 { return base*1.25 + 16<<20 }

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// settledGoroutines returns the fewest goroutines seen in a second, once
// the load's connections are gone.
func settledGoroutines(ctx context.Context, r *replica) (float64, error) {
	least := -1.0
	for range 10 {
		g, err := scrape(r.opsURL(), "go_goroutines")
		if err != nil {
			return 0, err
		}
		if least < 0 || g < least {
			least = g
		}
		pause(ctx, 100*time.Millisecond)
	}
	return least, nil
}

// waitGoroutines polls until the goroutines are at most want, for at most
// within, and returns the last count and the wait.
func waitGoroutines(ctx context.Context, r *replica, want float64, within time.Duration) (float64, time.Duration) {
	started := time.Now()
	for {
		g, err := scrape(r.opsURL(), "go_goroutines")
		if err == nil && g <= want || time.Since(started) > within || !pause(ctx, 250*time.Millisecond) {
			return g, time.Since(started)
		}
	}
}

// stormStats counts the storm's outcomes: HTTP statuses, "cut" for a
// connection closed without an answer, transport errors by kind.
type stormStats struct {
	mu     sync.Mutex
	counts map[string]int
	open   int // slow and idle connections not yet closed by the server
}

func (s *stormStats) add(label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[label]++
}

func (s *stormStats) opened(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open += n
}

func (s *stormStats) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.counts {
		n += v
	}
	return n
}

func (s *stormStats) stillOpen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// runStorm attacks addr for d and returns what it got. Slow and idle
// connections stay open after it returns, until the server closes them.
func runStorm(ctx context.Context, addr string, d time.Duration, short bool) *stormStats {
	st := &stormStats{counts: map[string]int{}}
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	workers, slow, idle := 8, 40, 100
	if short {
		workers, slow, idle = 4, 20, 50
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { httpAttacker(sctx, addr, st, i) })
	}
	wg.Go(func() { rawAttacker(sctx, addr, st) })
	for range slow {
		wg.Go(func() { slowHeaders(sctx, addr, st) })
	}
	for range idle {
		go idleConn(ctx, addr, st) // outlives the storm: the server must end it
	}
	wg.Wait()
	return st
}

// httpAttacker sends bad requests one after the other until ctx ends.
// Attacker i favours one kind, so that every kind runs concurrently.
func httpAttacker(ctx context.Context, addr string, st *stormStats, i int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	base := "http://" + addr
	kinds := badRequests()
	for n := i; ctx.Err() == nil; n++ {
		req := kinds[n%len(kinds)](ctx, base)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				st.add(errorKind(err))
			}
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		st.add(strconv.Itoa(resp.StatusCode))
	}
}

func errorKind(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "reset"), strings.Contains(s, "broken pipe"):
		return "reset"
	case strings.Contains(s, "EOF"), strings.Contains(s, "closed"):
		return "cut"
	case strings.Contains(s, "refused"):
		return "refused"
	case strings.Contains(s, "timeout"), strings.Contains(s, "deadline"):
		return "timeout"
	}
	return "error"
}

// badRequests returns the storm's requests, one maker per kind.
func badRequests() []func(context.Context, string) *http.Request {
	post := func(ctx context.Context, url, body string) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	get := func(ctx context.Context, url string) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		return req
	}
	order := func(customer, sku string) string {
		return `{"customer":"` + customer + `","items":[{"sku":"` + sku + `","qty":1,"price_cents":100}]}`
	}
	malformed := []string{
		"", "{", "[]", "null", `{"customer":1}`, `{"customer":"a","items":"x"}`, `{"customer":"a","items":[{"qty":-1}]}`,
		`{"customer":"a","items":[{"sku":"A","qty":1e999,"price_cents":1}]}`, `{"customer":"a","items":[]}`,
		strings.Repeat("[", 100000), `{"customer":"a"}{"customer":"b"}`, "\x00\x01\x02\xff\xfe",
	}
	bad := []string{"nul\x00here", "bad\xffutf8", "ctrl\x07bell", "bidi\u202eevil", strings.Repeat("long", 10000), "\\u0000"}
	paths := []string{"/orders/%00", "/orders/%ff", "/orders/" + strings.Repeat("x", 10000), "/orders/..%2f..%2fetc%2fpasswd",
		"/orders/%e2%80%ae", "/orders?limit=-1", "/orders?limit=99999999999999999999", "/orders?limit=%00", "//orders", "/orders/x/cancel/more"}
	return []func(context.Context, string) *http.Request{
		func(ctx context.Context, base string) *http.Request {
			return post(ctx, base+"/orders", malformed[rand.IntN(len(malformed))])
		},
		func(ctx context.Context, base string) *http.Request {
			b := bad[rand.IntN(len(bad))]
			if rand.IntN(2) == 0 {
				return post(ctx, base+"/orders", order(b, "BOOK-1"))
			}
			return post(ctx, base+"/orders", order("storm", b))
		},
		func(ctx context.Context, base string) *http.Request {
			p := paths[rand.IntN(len(paths))]
			if strings.Contains(p, "cancel") || rand.IntN(3) == 0 {
				return post(ctx, base+p+"/cancel", "")
			}
			return get(ctx, base+p)
		},
		func(ctx context.Context, base string) *http.Request { // 2 MiB, declared
			return post(ctx, base+"/orders", `{"customer":"`+strings.Repeat("a", 2<<20)+`"}`)
		},
		func(ctx context.Context, base string) *http.Request { // 8 MiB, chunked: no length known
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", io.MultiReader(
				strings.NewReader(`{"customer":"`), io.LimitReader(repeatReader('b'), 8<<20)))
			req.Header.Set("Content-Type", "application/json")
			return req
		},
		func(ctx context.Context, base string) *http.Request { // headers and content types
			req := post(ctx, base+"/orders", order("storm", "BOOK-1"))
			switch rand.IntN(3) {
			case 0:
				req.Header.Set("X-Huge", strings.Repeat("h", 2<<20))
			case 1:
				req.Header.Set("Idempotency-Key", strings.Repeat("k", 10000))
			case 2:
				req.Header.Set("Content-Type", "text/plain")
			}
			return req
		},
	}
}

// rawRequests are requests no well-behaved client library would send:
// control characters in headers and paths, broken framing.
var rawRequests = []string{
	"POST /orders HTTP/1.1\r\nHost: x\r\nIdempotency-Key: key\x01ctrl\r\nContent-Length: 2\r\n\r\n{}",
	"POST /orders HTTP/1.1\r\nHost: x\r\nIdempotency-Key: key\x7f\r\nContent-Length: 2\r\n\r\n{}",
	"GET /orders/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /orders/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
	"BREW /orders HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /orders HTTP/9.9\r\nHost: x\r\n\r\n", // 505, the one 5xx allowed
	"GET /orders HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
	"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
	"POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
	"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", // a TLS ClientHello to a plain port
}

// rawAttacker sends rawRequests over TCP, one per connection, until ctx
// ends.
func rawAttacker(ctx context.Context, addr string, st *stormStats) {
	for n := 0; ctx.Err() == nil; n++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			st.add(errorKind(err))
			continue
		}
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(c, rawRequests[n%len(rawRequests)]); err != nil {
			st.add(errorKind(err))
		} else {
			c.(*net.TCPConn).CloseWrite()
			st.add(answerOf(c))
		}
		c.Close()
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// slowHeaders opens connections that send a request's headers a line a
// second, over and over until ctx ends; the server must cut each at its
// header timeout.
func slowHeaders(ctx context.Context, addr string, st *stormStats) {
	for ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			st.add(errorKind(err))
			pause(ctx, 100*time.Millisecond)
			continue
		}
		st.opened(1)
		closed := make(chan string, 1)
		go func() { closed <- answerOf(c) }()
		fmt.Fprintf(c, "POST /orders HTTP/1.1\r\nHost: %s\r\n", addr)
	trickle:
		for i := 0; ; i++ {
			select {
			case label := <-closed:
				st.add(label)
				break trickle
			case <-time.After(time.Second):
				if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", i, i); err != nil {
					st.add(<-closed)
					break trickle
				}
			}
		}
		c.Close()
		st.opened(-1)
	}
}

// idleConn opens a connection and sends nothing; the server must close
// it at its header timeout.
func idleConn(ctx context.Context, addr string, st *stormStats) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		st.add(errorKind(err))
		return
	}
	st.opened(1)
	defer st.opened(-1)
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	st.add(answerOf(c))
}

// answerOf reads c until the server closes it and returns the status of
// the answer it sent, or "cut" when it sent none.
func answerOf(c net.Conn) string {
	data, _ := io.ReadAll(io.LimitReader(c, 64<<10))
	if rest, ok := bytes.CutPrefix(data, []byte("HTTP/1.1 ")); ok && len(rest) >= 3 {
		return string(rest[:3])
	}
	return "cut"
}
