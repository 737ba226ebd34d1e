//go:build linux

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// postgres is a PostgreSQL server of the suite's own: a cluster in a
// temporary directory, on a free loopback port, that scenarios stop and
// start.
type postgres struct {
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // cluster data in dir/data, socket and log in dir
	port int
	cred *syscall.Credential // user postgres when chaos runs as root; nil otherwise
}

// startPostgres creates a cluster and starts it. It fails, saying why,
// when the binaries are missing or cannot run here.
func startPostgres(ctx context.Context, logf func(string, ...any)) (*postgres, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	p := &postgres{bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to postgres.
		if p.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	if p.dir, err = os.MkdirTemp("", "flexchaos-pg-"); err != nil {
		return nil, err
	}
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(addr)
	p.port, _ = strconv.Atoi(portStr)
	if err := p.run(ctx, "initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	if err := p.start(ctx); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	logf("PostgreSQL from %s on 127.0.0.1:%d, cluster in %s", bin, p.port, p.dir)
	return p, nil
}

// findPostgres returns the directory of initdb and pg_ctl: from PATH, or
// the newest under /usr/lib/postgresql (Debian keeps them off PATH).
func findPostgres() (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(initdb), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb and pg_ctl are not on PATH nor under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

func versionOf(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb needs another user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *postgres) logPath() string { return filepath.Join(p.dir, "postgres.log") }

// errorLines counts the lines of the server's log that report an ERROR,
// and those among them that a client's input caused: bad encoding, bad
// syntax of a value.
func (p *postgres) errorLines() (all, input int) {
	data, err := os.ReadFile(p.logPath())
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "ERROR:") {
			continue
		}
		all++
		if strings.Contains(line, "invalid byte sequence") || strings.Contains(line, "invalid input syntax") ||
			strings.Contains(line, "character with byte sequence") || strings.Contains(line, "out of range") {
			input++
		}
	}
	return all, input
}

// run runs one of PostgreSQL's programs as the cluster's owner.
func (p *postgres) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
func (p *postgres) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", p.port, p.dir)
	return p.run(ctx, "pg_ctl", "-D", p.data(), "-l", p.logPath(), "-w", "-t", "60", "-o", opts, "start")
}

// crash stops the server in immediate mode: no checkpoint, every client
// cut, recovery at the next start, as after a crash.
func (p *postgres) crash(ctx context.Context) error {
	return p.run(ctx, "pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
}

// url is a database's URL.
func (p *postgres) url(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, dbname)
}

// createDB creates an empty database named name.
func (p *postgres) createDB(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", p.url("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return p.url(name), nil
}

// close stops the server and removes the cluster.
func (p *postgres) close() {
	p.crash(context.Background())
	os.RemoveAll(p.dir)
}
