package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// config is the harness's configuration, from its flags.
type config struct {
	dbs         []string // "sqlite", "postgres"
	databaseURL string   // PostgreSQL server for fresh databases
	d           time.Duration
	c           int
	rate        float64
	rounds      int
	sqliteConns int
	keep        bool
	lean        bool     // also measure the service with the lean client (client.go)
	seed        int      // orders of the past in each database before it is measured (see seedDB)
	work        string   // work directory; "" for a temporary one
	orders      string   // a prebuilt order system; "" builds ./orders
	serviceEnv  []string // KEY=VALUE given to the order system being measured
}

// flagError is a bad flag, reported with exit status 2.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	dbs := fs.String("db", "", `databases to measure, comma separated: sqlite, postgres (default: sqlite, and postgres when DATABASE_URL is set)`)
	fs.StringVar(&cfg.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL server on which to create fresh databases (default $DATABASE_URL)")
	fs.DurationVar(&cfg.d, "d", 15*time.Second, "duration of each measurement")
	fs.IntVar(&cfg.c, "c", 16, "concurrent clients, of the ceiling and of the service")
	fs.Float64Var(&cfg.rate, "rate", 100, "orders per second of the order-to-shipped measurement")
	fs.IntVar(&cfg.rounds, "rounds", 1, "ceiling and service measured this many times, alternately")
	fs.IntVar(&cfg.sqliteConns, "sqlite-conns", 1, "connections of the SQLite ceiling's pool (1: writers queue in the pool, not on SQLite's busy handler)")
	fs.BoolVar(&cfg.lean, "lean", false, "also measure the service with a lean HTTP/1.1 client (one goroutine per client, no net/http client), whose CPU is close to pgbench's")
	fs.IntVar(&cfg.seed, "seed", 10000, "orders of the past, shipped, written and analyzed in each database before it is measured, as in a database in service (0: measure empty databases)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory and the PostgreSQL databases")
	fs.StringVar(&cfg.work, "work", "", "work directory (default: a temporary one)")
	fs.StringVar(&cfg.orders, "orders", "", "measure this order system binary instead of building ./orders (an older version, say)")
	fs.Func("env", "`KEY=VALUE` given to the order system measured (repeatable), such as ORDERS_DB_MAX_CONNS=8", func(kv string) error {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		cfg.serviceEnv = append(cfg.serviceEnv, kv)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, &flagError{fmt.Sprintf("bench: unexpected arguments %q", fs.Args())}
	case cfg.d <= 0:
		return cfg, &flagError{fmt.Sprintf("bench: invalid -d %v: want more than 0", cfg.d)}
	case cfg.c < 1:
		return cfg, &flagError{fmt.Sprintf("bench: invalid -c %d: want at least 1", cfg.c)}
	case !(cfg.rate > 0):
		return cfg, &flagError{fmt.Sprintf("bench: invalid -rate %v: want more than 0", cfg.rate)}
	case cfg.rounds < 1:
		return cfg, &flagError{fmt.Sprintf("bench: invalid -rounds %d: want at least 1", cfg.rounds)}
	case cfg.seed < 0:
		return cfg, &flagError{fmt.Sprintf("bench: invalid -seed %d: want 0 or more", cfg.seed)}
	case cfg.sqliteConns < 1:
		return cfg, &flagError{fmt.Sprintf("bench: invalid -sqlite-conns %d: want at least 1", cfg.sqliteConns)}
	}
	if *dbs == "" {
		cfg.dbs = []string{"sqlite"}
		if cfg.databaseURL != "" {
			cfg.dbs = append(cfg.dbs, "postgres")
		}
	} else {
		for db := range strings.SplitSeq(*dbs, ",") {
			switch db = strings.TrimSpace(db); db {
			case "sqlite", "postgres":
				cfg.dbs = append(cfg.dbs, db)
			default:
				return cfg, &flagError{fmt.Sprintf("bench: invalid -db %q: want sqlite, postgres or both", *dbs)}
			}
		}
	}
	for _, db := range cfg.dbs {
		if db == "postgres" && cfg.databaseURL == "" {
			return cfg, &flagError{"bench: -db postgres needs -database-url or DATABASE_URL"}
		}
	}
	return cfg, nil
}
