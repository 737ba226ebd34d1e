package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Checks of the audit, each naming the promise broken in a violation.
const (
	checkLost           = "lost"             // answered 201, yet GET is 404
	checkNotFinal       = "not-final"        // answered 201, not shipped, cancelled or expired after settling
	checkExpiredPaid    = "expired-and-paid" // an expired order was paid
	checkCancelledPaid  = "cancelled-and-paid"
	checkOutboxBacklog  = "outbox-backlog" // events not yet published after settling
	checkDeadLetters    = "dead-letters"   // messages the consumers gave up on
	checkStuck          = "stuck"          // any order in the database not final after settling
	checkUnreachable    = "unreachable"    // a check could not run
	maxLinesPerCheck    = 20               // violations printed per check; the rest are counted
	defaultPollInterval = 200 * time.Millisecond
)

// violation is one broken promise.
type violation struct {
	check  string
	detail string
}

func (v violation) String() string { return "VIOLATION " + v.check + ": " + v.detail }

// auditConfig says what the audit checks and how long it waits.
type auditConfig struct {
	settle         time.Duration // how long the workflow may take to settle
	poll           time.Duration // between two looks; 0 means 200ms
	db             *sql.DB       // the order system's database; nil skips the checks that need it
	opsURL         string        // the operations server; "" skips the dead-letter check
	maxDeadLetters float64       // dead letters allowed
	retries        int           // of uncertain creates
	loadEnd        time.Time     // orders created before this must settle
}

// auditReport is what the audit found.
type auditReport struct {
	states     map[string]int // the final state of each order created, by state ("missing" for a 404)
	settled    bool           // everything settled before the deadline
	took       time.Duration  // waiting for it
	resolved   int            // uncertain creates that answered 201 when sent again
	skipped    []string       // checks that could not run, and why
	violations []violation
}

// audit waits, for at most cfg.settle, until every order in b is final
// and the outbox is empty, then checks the promises of the order system
// (see the check constants) and reports every violation. An error means
// the audit could not be carried out: ctx done, or the database failing.
func audit(ctx context.Context, c *client, b *book, cfg auditConfig) (*auditReport, error) {
	rep := &auditReport{states: map[string]int{}}
	for _, a := range b.takeUncertain() {
		// The client did not see its 201: it retries with the same key,
		// which answers the order if it was created (and creates it if not).
		if id, _ := c.create(ctx, a, cfg.retries); id != "" {
			b.created(id)
			rep.resolved++
		}
	}
	final, missing, backlog, err := settle(ctx, c, b, cfg, rep)
	if err != nil {
		return nil, err
	}
	ids := b.orders()
	for _, id := range ids {
		switch state, ok := final[id]; {
		case missing[id]:
			rep.states["missing"]++
			rep.add(checkLost, fmt.Sprintf("order %s was answered 201, but GET /orders/%s is 404", id, id))
		case !ok:
			rep.states["unknown"]++
			rep.add(checkNotFinal, fmt.Sprintf("order %s: no answer from GET /orders/%s", id, id))
		default:
			rep.states[state]++
			if !finalStates[state] {
				rep.add(checkNotFinal, fmt.Sprintf("order %s is still %s %s after the load ended", id, state, cfg.settle))
			}
			paid := b.everSeen(id, "paid") || b.everSeen(id, "shipped")
			if paid && state == "expired" {
				rep.add(checkExpiredPaid, fmt.Sprintf("order %s was seen paid, and is now expired", id))
			}
			if paid && state == "cancelled" {
				rep.add(checkCancelledPaid, fmt.Sprintf("order %s was seen paid, and is now cancelled", id))
			}
		}
	}
	if cfg.db == nil {
		rep.skipped = append(rep.skipped, checkOutboxBacklog+", "+checkStuck+" and "+checkExpiredPaid+" in the database: no -database-url")
	} else {
		if backlog > 0 {
			rep.add(checkOutboxBacklog, fmt.Sprintf("%d outbox rows not sent %s after the load ended", backlog, cfg.settle))
		}
		if err := checkDatabase(ctx, cfg, rep, final); err != nil {
			return nil, err
		}
	}
	if cfg.opsURL == "" {
		rep.skipped = append(rep.skipped, checkDeadLetters+": no -ops-url")
	} else {
		checkMetrics(ctx, c.http, cfg, rep)
	}
	return rep, nil
}

func (r *auditReport) add(check, detail string) {
	r.violations = append(r.violations, violation{check: check, detail: detail})
}

// settle polls the orders of b that are not final yet, and the outbox
// backlog, until all are final and the backlog empty, or cfg.settle has
// passed since the load ended. It returns the last state of each order
// answered, the orders answered 404, and the backlog.
func settle(ctx context.Context, c *client, b *book, cfg auditConfig, rep *auditReport) (final map[string]string, missing map[string]bool, backlog int, err error) {
	poll := cfg.poll
	if poll <= 0 {
		poll = defaultPollInterval
	}
	start := time.Now()
	deadline := cfg.loadEnd.Add(cfg.settle)
	final, missing = map[string]string{}, map[string]bool{}
	for {
		var pending []string
		for _, id := range b.orders() {
			if !finalStates[final[id]] && !missing[id] {
				pending = append(pending, id)
			}
		}
		lookUp(ctx, c, b, pending, final, missing)
		backlog = 0
		if cfg.db != nil {
			if err := cfg.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&backlog); err != nil {
				return nil, nil, 0, fmt.Errorf("loadgen: count the outbox backlog: %w", err)
			}
		}
		done := backlog == 0
		for _, id := range pending {
			done = done && (finalStates[final[id]] || missing[id])
		}
		if done || !time.Now().Before(deadline) {
			rep.settled, rep.took = done, time.Since(start)
			return final, missing, backlog, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, ctx.Err()
		case <-time.After(min(poll, time.Until(deadline))):
		}
	}
}

// lookUp GETs the orders ids, eight at a time, and records their states
// in final (404s in missing). An order with no answer keeps its last state.
func lookUp(ctx context.Context, c *client, b *book, ids []string, final map[string]string, missing map[string]bool) {
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			state, res := c.get(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case state != "":
				final[id] = state
				b.saw(id, state)
			case res.status == http.StatusNotFound:
				missing[id] = true
			}
		})
	}
	wg.Wait()
}

// checkDatabase looks in the database for expired orders that were paid
// (an orders.paid event in the outbox) and for orders created before the
// load ended and not final, besides loadgen's own (reported already).
func checkDatabase(ctx context.Context, cfg auditConfig, rep *auditReport, ours map[string]string) error {
	ids, err := queryIDs(ctx, cfg.db, `SELECT o.id FROM orders o WHERE o.status = 'expired'
		AND EXISTS (SELECT 1 FROM outbox x WHERE x.msg_key = o.id AND x.topic LIKE '%orders.paid') ORDER BY o.id`)
	if err != nil {
		return fmt.Errorf("loadgen: look for expired orders that were paid: %w", err)
	}
	for _, id := range ids {
		rep.add(checkExpiredPaid, fmt.Sprintf("order %s is expired, and its orders.paid event is in the outbox", id))
	}
	rows, err := cfg.db.QueryContext(ctx, `SELECT id, status FROM orders
		WHERE status NOT IN ('shipped', 'cancelled', 'expired') AND created_at <= `+strconv.FormatInt(cfg.loadEnd.UnixMilli(), 10)+` ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("loadgen: look for stuck orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return fmt.Errorf("loadgen: look for stuck orders: %w", err)
		}
		if _, reported := ours[id]; !reported {
			rep.add(checkStuck, fmt.Sprintf("order %s is still %s %s after the load ended", id, state, cfg.settle))
		}
	}
	return rows.Err()
}

func queryIDs(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// deadLetterMetric counts the messages the consumers dead-lettered, by
// group and topic, since the order system started.
const deadLetterMetric = "orders_kafka_consumer_dead_lettered_total"

// checkMetrics reads the dead letters from the operations server.
func checkMetrics(ctx context.Context, hc *http.Client, cfg auditConfig, rep *auditReport) {
	url := strings.TrimSuffix(cfg.opsURL, "/") + "/metrics"
	n, err := scrapeSum(ctx, hc, url, deadLetterMetric)
	switch {
	case err != nil:
		rep.add(checkUnreachable, fmt.Sprintf("cannot read %s from %s: %v", deadLetterMetric, url, err))
	case n > cfg.maxDeadLetters:
		rep.add(checkDeadLetters, fmt.Sprintf("%s is %g, more than the %g allowed (-max-dead-letters)", deadLetterMetric, n, cfg.maxDeadLetters))
	}
}

// scrapeSum returns the sum of the samples of the metric name in the
// Prometheus text exposition at url. A metric without samples sums to 0.
func scrapeSum(ctx context.Context, hc *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/plain") // the text format, not protobuf
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return sumSamples(resp.Body, name)
}

// sumSamples adds up the samples of name in a Prometheus text exposition:
// lines `name value` and `name{labels} value`.
func sumSamples(r io.Reader, name string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a comment, another metric, or one whose name merely starts so
		}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("malformed sample %q", line)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest) // value, and perhaps a timestamp
		if len(fields) == 0 {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("malformed sample %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// summarize groups the violations by check, in a stable order.
func summarize(vs []violation) string {
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.check]++
	}
	checks := make([]string, 0, len(counts))
	for c := range counts {
		checks = append(checks, c)
	}
	slices.Sort(checks)
	parts := make([]string, len(checks))
	for i, c := range checks {
		parts[i] = fmt.Sprintf("%s %d", c, counts[c])
	}
	return strings.Join(parts, ", ")
}
