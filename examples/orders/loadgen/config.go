package main

import (
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// config is loadgen's configuration, from its flags.
type config struct {
	url            string
	load           loadConfig
	timeout        time.Duration
	progress       bool
	audit          bool
	settle         time.Duration
	db             *sql.DB // from -database-url; nil without
	opsURL         string
	maxDeadLetters float64
	jsonPath       string // -json: where to write the report for programs; "" for none
}

// parseFlags reads the flags. An invalid value is reported naming the
// flag.
func parseFlags(args []string, out io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.url, "url", "http://localhost:8080", "the order system's public API")
	fs.Float64Var(&cfg.load.rate, "rate", 10, "orders started per second (open loop), unless -c is set")
	fs.IntVar(&cfg.load.conc, "c", 0, "clients placing orders one after the other (closed loop) instead of -rate")
	fs.DurationVar(&cfg.load.duration, "d", 10*time.Second, "how long to start orders")
	mixFlag := fs.String("mix", "get=0.5,list=0.2,cancel=0.1", "per order, the probability of reading it back, listing the recent orders and cancelling it")
	fs.IntVar(&cfg.load.retries, "retries", 3, "retries of a create with no answer or a 503, with the same Idempotency-Key")
	fs.IntVar(&cfg.load.maxInFlight, "max-inflight", 10000, "open loop: orders in progress at most; beyond, due orders are skipped and counted")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "bound on each request")
	fs.BoolVar(&cfg.progress, "progress", false, "print a progress line every second on stderr even when it is not a terminal")
	fs.BoolVar(&cfg.audit, "audit", false, "after the load, wait for the workflow to settle and check its promises")
	fs.DurationVar(&cfg.settle, "settle", 60*time.Second, "with -audit, how long after the load every order may take to be final")
	dbURL := fs.String("database-url", "", "with -audit, the order system's database, for the outbox, stuck and paid checks: postgres://… or sqlite:PATH")
	fs.StringVar(&cfg.opsURL, "ops-url", "http://localhost:9090", `with -audit, the operations server, for the dead letters ("" skips the check)`)
	fs.Float64Var(&cfg.maxDeadLetters, "max-dead-letters", 0, "with -audit, dead letters allowed")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the summary and the audit as JSON to this `file`, for programs")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := cfg.validate(fs, *mixFlag); err != nil {
		return cfg, err
	}
	if *dbURL != "" {
		db, err := openDB(*dbURL)
		if err != nil {
			return cfg, err
		}
		cfg.db = db
	}
	return cfg, nil
}

func (cfg *config) validate(fs *flag.FlagSet, mixFlag string) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("loadgen: unexpected arguments %q", fs.Args())
	}
	if u, err := url.Parse(cfg.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: invalid -url %q: want http://host:port", cfg.url)
	}
	switch {
	case cfg.load.conc < 0:
		return fmt.Errorf("loadgen: invalid -c %d: want 0 (use -rate) or more", cfg.load.conc)
	case cfg.load.conc == 0 && !(cfg.load.rate > 0):
		return fmt.Errorf("loadgen: invalid -rate %v: want more than 0", cfg.load.rate)
	case cfg.load.duration <= 0:
		return fmt.Errorf("loadgen: invalid -d %v: want more than 0", cfg.load.duration)
	case cfg.load.retries < 0:
		return fmt.Errorf("loadgen: invalid -retries %d: want 0 or more", cfg.load.retries)
	case cfg.load.maxInFlight < 1:
		return fmt.Errorf("loadgen: invalid -max-inflight %d: want at least 1", cfg.load.maxInFlight)
	case cfg.timeout <= 0:
		return fmt.Errorf("loadgen: invalid -timeout %v: want more than 0", cfg.timeout)
	case cfg.settle < 0:
		return fmt.Errorf("loadgen: invalid -settle %v: want 0 or more", cfg.settle)
	case cfg.maxDeadLetters < 0:
		return fmt.Errorf("loadgen: invalid -max-dead-letters %v: want 0 or more", cfg.maxDeadLetters)
	}
	m, err := parseMix(mixFlag)
	if err != nil {
		return err
	}
	cfg.load.mix = m
	return nil
}

// parseMix reads "get=0.5,list=0.2,cancel=0.1"; a missing entry is 0.
func parseMix(s string) (mix, error) {
	var m mix
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(part), "=")
		p, err := strconv.ParseFloat(raw, 64)
		if !ok || err != nil || p < 0 || p > 1 {
			return m, fmt.Errorf("loadgen: invalid -mix %q: %q is not name=probability, with a probability from 0 to 1", s, part)
		}
		switch name {
		case opGet:
			m.get = p
		case opList:
			m.list = p
		case opCancel:
			m.cancel = p
		default:
			return m, fmt.Errorf("loadgen: invalid -mix %q: unknown %q, want get, list or cancel", s, name)
		}
	}
	return m, nil
}

// openDB opens the order system's database read-only where it can:
// postgres://… (or postgresql://…) with pgx, sqlite:PATH with SQLite.
func openDB(raw string) (*sql.DB, error) {
	var db *sql.DB
	var err error
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		db, err = sql.Open("pgx", raw)
	case strings.HasPrefix(raw, "sqlite:"):
		// Read-only, and waiting for the order system's writers rather
		// than failing with SQLITE_BUSY.
		path := strings.TrimPrefix(raw, "sqlite:")
		db, err = sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	default:
		return nil, fmt.Errorf("loadgen: invalid -database-url %q: want postgres://… or sqlite:PATH", redact(raw))
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: open -database-url %q: %w", redact(raw), err)
	}
	return db, nil
}

// redact hides the password of a database URL in messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
