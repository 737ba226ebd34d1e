package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestRun starts the program on an SQLite file and stops it through its
// context, as SIGTERM would.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cronlock.db")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CRONLOCK_SQLITE", path)
	t.Setenv("CRONLOCK_SPEC", "@every 1s")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM flexcron_locks`).Scan(&n); err != nil {
		t.Fatalf("lock table missing: %v", err)
	}
}

func TestRunInvalidSpec(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CRONLOCK_SQLITE", filepath.Join(t.TempDir(), "cronlock.db"))
	t.Setenv("CRONLOCK_SPEC", "* * *")
	want := `flexcron: job "report": invalid spec "* * *": expected 5 to 6 fields, found 3: [* * *]`
	if err := run(context.Background()); err == nil || err.Error() != want {
		t.Errorf("run = %v, want %q", err, want)
	}
}
