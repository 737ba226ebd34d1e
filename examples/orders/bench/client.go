package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// leanTimeout bounds each request of the lean client, as loadgen's
// -timeout does.
const leanTimeout = 10 * time.Second

// leanLoad creates orders on s from -c clients in a closed loop for -d,
// as loadgen -c does, with a lean HTTP/1.1 client: each client writes its
// request on a connection of its own and reads the answer on the same
// goroutine, where net/http's client hands every request to two goroutines
// of the connection and back. The requests are the same as loadgen's: a
// POST /orders of one to three lines, with an Idempotency-Key of its own;
// an answer counts when it is a 201 read to its end. It shows what the
// order system does when the client, which shares the two cores with it,
// costs about what pgbench, the ceiling's client, does.
func (e *env) leanLoad(ctx context.Context, s *service) (figures, error) {
	addr := strings.TrimPrefix(s.url, "http://")
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		wg        sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(e.cfg.d)
	for range e.cfg.c {
		wg.Go(func() {
			mine, bad := leanClient(ctx, addr, end)
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	f := summarize(latencies, time.Since(start))
	f.errors = failures
	return f, ctx.Err()
}

// leanClient sends orders to addr one after the other until end, and
// returns the latency of each created and the count of failures. A failed
// request closes the connection; the next opens another.
func leanClient(ctx context.Context, addr string, end time.Time) (latencies []time.Duration, failures int) {
	var (
		conn net.Conn
		rd   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for time.Now().Before(end) && ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = net.DialTimeout("tcp", addr, leanTimeout); err != nil {
				failures++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			rd = bufio.NewReader(conn)
		}
		req := leanRequest(addr)
		t0 := time.Now()
		conn.SetDeadline(t0.Add(leanTimeout))
		ok := leanRoundTrip(conn, rd, req)
		if !ok {
			failures++
			conn.Close()
			conn = nil
			continue
		}
		latencies = append(latencies, time.Since(t0))
	}
	return latencies, failures
}

// leanRoundTrip writes req and reads the answer to its end, and reports
// whether it was a 201 on a connection that stays open.
func leanRoundTrip(conn net.Conn, rd *bufio.Reader, req []byte) bool {
	if _, err := conn.Write(req); err != nil {
		return false
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusCreated && !resp.Close
}

// The orders of loadgen's closed loop (see ../loadgen/load.go).
var (
	leanSKUs   = []string{"BOOK-1", "BOOK-2", "TEA-7", "MUG-3", "PEN-9", "LAMP-4", "SOCKS-12", "CHAIR-5"}
	leanPrices = []int{1250, 2100, 499, 899, 150, 3999, 799, 12900}
)

type leanItem struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int    `json:"price_cents"`
}

// leanRequest returns a POST /orders of a random order, with an
// Idempotency-Key of its own, as bytes on the wire.
func leanRequest(host string) []byte {
	var items []leanItem
	for _, i := range mrand.Perm(len(leanSKUs))[:1+mrand.IntN(3)] {
		items = append(items, leanItem{SKU: leanSKUs[i], Qty: 1 + mrand.IntN(3), PriceCents: leanPrices[i]})
	}
	body, _ := json.Marshal(struct {
		Customer string     `json:"customer"`
		Items    []leanItem `json:"items"`
	}{fmt.Sprintf("customer-%03d", mrand.IntN(500)), items})
	return fmt.Appendf(nil, "POST /orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Idempotency-Key: lean-%s\r\nContent-Length: %d\r\n\r\n%s", host, rand.Text(), len(body), body)
}
