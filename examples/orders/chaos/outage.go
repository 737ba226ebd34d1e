//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// outageLength is how long PostgreSQL stays down.
const outageLength = 10 * time.Second

// dbOutage crashes PostgreSQL under load and starts it again 10 s later.
// During the outage the API answers 503 with Retry-After and a problem
// body, never another 5xx; readiness fails; the replica keeps running; and
// nothing is dead-lettered (checked in its log). Afterwards every order
// answered 201 ends final.
func dbOutage(ctx context.Context, e *scenarioEnv, db database) error {
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
	if err := e.pg.crash(ctx); err != nil {
		return err
	}
	down := time.Now()
	e.logf("PostgreSQL stopped")
	probe := make(chan string, 1)
	go func() { probe <- probeUnavailable(r) }()
	unready := waitUnready(ctx, r, outageLength)
	pause(ctx, time.Until(down.Add(outageLength)))
	if err := e.pg.start(ctx); err != nil {
		return err
	}
	up := time.Now()
	e.logf("PostgreSQL started again after %s", up.Sub(down).Round(time.Millisecond))
	if unready < 0 {
		e.r.failf("/readyz kept answering 200 during the outage")
	}
	if msg := <-probe; msg != "" {
		e.r.failf("during the outage, POST /orders: %s", msg)
	}
	if _, err := r.waitReady(ctx, readyTimeout); err != nil {
		e.r.failf("after the outage: %v", err)
	}
	again := time.Since(up)
	rep := lr.wait(ctx, e.r)
	if rep != nil {
		e.r.note("PostgreSQL down %s: /readyz failing after %s, ready %s after its restart, 503 answers %d",
			outageLength, unready.Round(time.Millisecond), again.Round(time.Millisecond), rep.Errors["503"])
	}
	return nil
}

// waitUnready polls /readyz until it fails, for at most within; it
// returns how long that took, or -1 when it never failed.
func waitUnready(ctx context.Context, r *replica, within time.Duration) time.Duration {
	started := time.Now()
	client := &http.Client{Timeout: time.Second}
	for time.Since(started) < within {
		resp, err := client.Get(r.opsURL() + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			return time.Since(started)
		}
		if !pause(ctx, 50*time.Millisecond) {
			break
		}
	}
	return -1
}

// probeUnavailable places one order while the database is down and says
// what is wrong with the answer: "" for 503 with Retry-After and a
// problem+json body.
func probeUnavailable(r *replica) string {
	body := `{"customer":"chaos-probe","items":[{"sku":"BOOK-1","qty":1,"price_cents":1250}]}`
	req, _ := http.NewRequest(http.MethodPost, r.url()+"/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("chaos-probe-%d", time.Now().UnixNano()))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Sprintf("no answer: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode != http.StatusServiceUnavailable:
		return fmt.Sprintf("answered %d %s, want 503", resp.StatusCode, bytes.TrimSpace(got))
	case resp.Header.Get("Retry-After") == "":
		return "503 without Retry-After"
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json"):
		return fmt.Sprintf("503 with Content-Type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	return ""
}
