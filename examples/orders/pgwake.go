package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// outboxChannel is the PostgreSQL notification channel on which replicas
// announce rows committed to the outbox. The payload is the schema of the
// outbox and the announcing replica's ID, "schema replica", so that a
// replica ignores its own announcements and those of another schema.
const outboxChannel = "orders_outbox"

// announceAfter is how long a commit of this replica may wait for its own
// relay before the other replicas are told of it: a commit whose rows the
// relay has published by then is announced to no one, and commits rung
// meanwhile share one notification. Each notification is a transaction
// of its own, flushed to disk, and under load a relay publishes its
// replica's commits within a few milliseconds: announcing them all, at
// most once per 5 ms, cost PostgreSQL up to 200 commits a second, for
// other replicas that had nothing left to publish.
const announceAfter = 25 * time.Millisecond

// listenBackoff is how long the listener waits before connecting again
// after its connection failed. Polling covers the gap.
const listenBackoff = time.Second

// pgWake wakes the relays of other replicas when this one commits outbox
// rows, and this one's when they do, through PostgreSQL's LISTEN/NOTIFY.
// A replica's own relay is woken in-process (see doorbell); this is for the
// rows it does not see committed: those of another replica whose relay is
// failing or slower. So a replica announces only the commits its own relay
// has not published within announceAfter (see passLog), and again once a
// failed pass has let their rows go. The relay's claim (FOR UPDATE SKIP
// LOCKED) keeps two woken relays from publishing the same rows.
//
// Announcing is a statement of its own after the commit, not a NOTIFY in
// the order's transaction: PostgreSQL serialises the commits of
// transactions that notify (a database-wide lock held until the commit is
// flushed), which would cost the API its group commit.
//
// Notifications are a hint, never the only way: when the listener's
// connection is down, or a notification is lost, the relay's poll
// publishes the rows.
type pgWake struct {
	url     string  // DATABASE_URL, for the listener's own connection
	db      *sql.DB // the pipeline's pool, for announcing
	replica string  // this process, in payloads
	log     *slog.Logger
	notify  func(context.Context) error // sends one announcement: w.pgNotify, or a test's
}

func newPGWake(url string, db *sql.DB, log *slog.Logger) *pgWake {
	w := &pgWake{url: url, db: db, replica: strings.ToLower(rand.Text()[:10]), log: log}
	w.notify = w.pgNotify
	return w
}

// pgNotify announces this replica's commits on outboxChannel.
func (w *pgWake) pgNotify(ctx context.Context) error {
	_, err := w.db.ExecContext(ctx, `SELECT pg_notify($1, current_schema() || ' ' || $2)`, outboxChannel, w.replica)
	return err
}

// announce notifies the other replicas each time local is rung, unless
// passes shows that this replica's relay, in a pass started after the
// commits rung, published their rows within announceAfter, until ctx is
// done: at most one notification per announceAfter, and none while the
// relay keeps up. A nil passes publishes nothing, so that every ring is
// announced. A failed notification is dropped: the other replicas poll.
func (w *pgWake) announce(ctx context.Context, local <-chan struct{}, passes *passLog) {
	wait := time.NewTimer(announceAfter)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-local:
		}
		mark := passes.mark()
		wait.Reset(announceAfter)
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		if passes.covered(mark) {
			continue
		}
		if err := w.notify(ctx); err != nil && ctx.Err() == nil {
			w.log.Debug("orders: outbox announcement failed; the other replicas will poll", "error", err)
		}
	}
}

// listen rings wake on each announcement by another replica of this
// schema, and once after each (re)connection, for what was announced
// while it was not listening, until ctx is done.
func (w *pgWake) listen(ctx context.Context, wake *doorbell) {
	for {
		err := w.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		w.log.Debug("orders: outbox listener disconnected; polling meanwhile", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenBackoff):
		}
	}
}

func (w *pgWake) listenOnce(ctx context.Context, wake *doorbell) error {
	conn, err := pgx.Connect(ctx, w.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+outboxChannel); err != nil {
		return err
	}
	wake.ring()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, replica, _ := strings.Cut(n.Payload, " ")
		if from == schema && replica != w.replica {
			wake.ring()
		}
	}
}
