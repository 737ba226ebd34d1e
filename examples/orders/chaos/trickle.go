//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// resumeWithin is how soon after a restart processing must resume: the
// first order shipped.
const resumeWithin = 2 * time.Second

// trickle sends SIGTERM to the order system under load while a client
// trickles a request body, one byte every 100 ms. The shutdown must end
// within its budget with exit code 0: the trickling request is cut, which
// is no failure of the service. After the restart processing must resume
// within 2 s of the process start: an order shipped (the orders in flight
// before the shutdown come first), although the load generator's clients
// that waited through the shutdown all retry at once. How long an order
// placed right after the start takes to ship is reported too.
func trickle(ctx context.Context, e *scenarioEnv, db database) error {
	r, err := e.startReplica(ctx, "orders", db)
	if err != nil {
		return err
	}
	l := e.load(e.scaled(30*time.Second, 20*time.Second))
	lr, err := e.startLoad("load", r.url(), db, l)
	if err != nil {
		return err
	}
	if !pause(ctx, l.d/4) {
		return ctx.Err()
	}
	stopTrickle, err := startTrickle(r.api)
	if err != nil {
		return err
	}
	defer stopTrickle()
	code, took, err := r.stop(60 * time.Second)
	if err != nil || code != 0 {
		e.r.failf("SIGTERM with a client trickling its body: exit code %d after %s, %v", code, took.Round(time.Millisecond), err)
	}
	if err := r.start(); err != nil {
		return err
	}
	newOrder := make(chan time.Duration, 1)
	go func() {
		d, err := firstShipped(ctx, r)
		if err != nil {
			e.r.failf("after the restart: %v", err)
		}
		newOrder <- d
	}()
	resumed, err := firstHandled(ctx, r, `orders-shipping"`)
	if err != nil {
		e.r.failf("after the restart: %v", err)
	} else if resumed > resumeWithin {
		e.r.failf("after the restart, the first order shipped %s after the start, want at most %s", resumed.Round(time.Millisecond), resumeWithin)
	}
	placed := <-newOrder
	lr.wait(ctx, e.r)
	e.r.note("SIGTERM with a client trickling: exit %d after %s; after the restart, first order shipped at %s, an order placed then shipped at %s",
		code, took.Round(time.Millisecond), resumed.Round(time.Millisecond), placed.Round(time.Millisecond))
	return nil
}

// firstHandled polls r's metrics until a consumer whose labels contain
// label has handled a message since r's start, and returns how long after
// the start that was: the moment processing resumed.
func firstHandled(ctx context.Context, r *replica, label string) (time.Duration, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if n, err := scrapeLabeled(r.opsURL(), "orders_kafka_consumer_messages_total", label); err == nil && n > 0 {
			return time.Since(r.startsAt), nil
		}
		pause(ctx, 10*time.Millisecond)
	}
	return 0, fmt.Errorf("no message handled by %s within 30 s of the start", label)
}

// startTrickle opens a connection to addr and sends POST /orders with a
// 10,000-byte body one byte every 100 ms, until stopped or cut. It returns
// once the handler is reading the body: the request asks for
// "100-continue", which the server sends at the handler's first read.
func startTrickle(addr string) (stop func(), err error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	head := "POST /orders HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: 10000\r\nExpect: 100-continue\r\n\r\n"
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(head)); err != nil {
		c.Close()
		return nil, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		c.Close()
		return nil, fmt.Errorf("trickling client: want 100 Continue, got %q, %v", line, err)
	}
	c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		body := []byte(`{"customer":"`)
		for {
			if _, err := c.Write(body); err != nil {
				return // cut by the server, as it should be at its deadline
			}
			body = []byte("x")
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); c.Close() }, nil
}

// firstShipped places an order as soon as r answers and follows it until
// it is shipped; it returns how long after r's start that was.
func firstShipped(ctx context.Context, r *replica) (time.Duration, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	key := fmt.Sprintf("chaos-resume-%d", time.Now().UnixNano())
	var id string
	for id == "" {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("no order placed within 30 s of the start")
		}
		req, _ := http.NewRequest(http.MethodPost, r.url()+"/orders",
			strings.NewReader(`{"customer":"chaos-resume","items":[{"sku":"TEA-7","qty":1,"price_cents":499}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		id = placeOrder(client, req)
		if id == "" {
			pause(ctx, 10*time.Millisecond)
		}
	}
	for {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("order %s not shipped within 30 s of the start", id)
		}
		if stateOf(client, r.url()+"/orders/"+id) == "shipped" {
			return time.Since(r.startsAt), nil
		}
		pause(ctx, 10*time.Millisecond)
	}
}

// placeOrder sends req and returns the new order's ID, or "" without a
// 201.
func placeOrder(client *http.Client, req *http.Request) string {
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var o struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&o) != nil {
		return ""
	}
	return o.ID
}

func stateOf(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var o struct{ Status string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&o) != nil {
		return ""
	}
	return o.Status
}
