//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scenarioEnv is one scenario's world: its directory, its processes and
// its result.
type scenarioEnv struct {
	*suite
	dir   string
	r     *result
	procs []*process
}

// replica is one order system process, with fixed ports so that a
// restart answers where the previous run did.
type replica struct {
	*process
	api, ops string // host:port
}

func (r *replica) url() string    { return "http://" + r.api }
func (r *replica) opsURL() string { return "http://" + r.ops }

// database says where the order system keeps its orders.
type database struct {
	env   string // the variable to give the order system
	audit string // for loadgen's -database-url
}

// sqlite returns a database in a new SQLite file.
func (e *scenarioEnv) sqlite(name string) database {
	path := filepath.Join(e.dir, name+".db")
	return database{env: "ORDERS_SQLITE_PATH=" + path, audit: "sqlite:" + path}
}

// postgresDB returns a new, empty PostgreSQL database.
func (e *scenarioEnv) postgresDB(ctx context.Context, name string) (database, error) {
	url, err := e.pg.createDB(ctx, name)
	if err != nil {
		return database{}, err
	}
	return database{env: "DATABASE_URL=" + url, audit: url}, nil
}

// newReplica prepares an order system named name on free loopback ports,
// with env added to a clean environment; without FLEX_KAFKA_BROKERS in env
// it runs its in-process broker with data in the scenario's directory.
func (e *scenarioEnv) newReplica(name string, db database, env ...string) (*replica, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ops, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r := &replica{api: api, ops: ops, process: &process{
		name: name, path: e.bin.orders, logPath: filepath.Join(e.dir, name+".log"),
		env: append(cleanEnv(),
			"FLEX_HTTP_ADDR="+api, "FLEX_METRICS_ADDR="+ops, db.env,
			"ORDERS_KAFKA_DATA_DIR="+filepath.Join(e.dir, name+"-kafka"),
		),
	}}
	r.env = append(r.env, env...)
	e.procs = append(e.procs, r.process)
	e.track(r.process)
	return r, nil
}

// startReplica prepares, starts and waits for a replica to be ready.
func (e *scenarioEnv) startReplica(ctx context.Context, name string, db database, env ...string) (*replica, error) {
	r, err := e.newReplica(name, db, env...)
	if err != nil {
		return nil, err
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	if _, err := r.waitReady(ctx, readyTimeout); err != nil {
		return nil, err
	}
	return r, nil
}

// readyTimeout bounds a start; it is no performance target.
const readyTimeout = 60 * time.Second

// waitReady polls /readyz until it answers 200, and returns how long after
// the start that was. It fails when the process exits first.
func (r *replica) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(r.opsURL() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(r.startsAt), nil
			}
		}
		select {
		case <-r.exited():
			return 0, fmt.Errorf("%s exited before it was ready: %s", r.name, r.crashedOr("exited"))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready %s after its start", r.name, timeout)
		}
	}
}

func (p *process) crashedOr(def string) string {
	if c := p.crashed(); c != "" {
		return c
	}
	return def
}

// startBroker starts the development broker on a free port and returns
// its address.
func (e *scenarioEnv) startBroker(ctx context.Context) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	p := &process{
		name: "devbroker", path: e.bin.devbroker, logPath: filepath.Join(e.dir, "devbroker.log"),
		args: []string{"-addr", addr}, env: cleanEnv(),
	}
	e.procs = append(e.procs, p)
	e.track(p)
	if err := p.start(); err != nil {
		return "", err
	}
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, nil
		}
		select {
		case <-p.exited():
			return "", fmt.Errorf("devbroker exited at its start: %s", p.crashedOr("exited"))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopAll stops what still runs with SIGTERM, the order systems first:
// each must exit 0. A process that exited without being asked to is a
// broken promise too.
func (e *scenarioEnv) stopAll() {
	for _, p := range e.procs {
		if c := p.crashed(); c != "" {
			e.r.failf("%s exited on its own: %s", p.name, c)
		}
	}
	for _, p := range e.procs {
		if !p.running() || p.name == "devbroker" {
			continue
		}
		if code, took, err := p.stop(30 * time.Second); err != nil || code != 0 {
			e.r.failf("%s: SIGTERM at the end: exit code %d after %s, %v", p.name, code, took.Round(time.Millisecond), err)
		}
	}
	for _, p := range e.procs {
		if p.running() {
			p.stop(10 * time.Second)
		}
	}
}

// checkLogs searches the order systems' logs for what no scenario may
// cause: a dead letter (every failure here is transient) or a panic.
func (e *scenarioEnv) checkLogs() {
	for _, p := range e.procs {
		if p.name == "devbroker" {
			continue
		}
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			e.r.failf("%s: its log: %v", p.name, err)
			continue
		}
		if n := bytes.Count(data, []byte("flexkafka: dead-lettered")); n > 0 {
			e.r.failf("%s dead-lettered %d messages", p.name, n)
		}
		if bytes.Contains(data, []byte("panic:")) || bytes.Contains(data, []byte("DATA RACE")) {
			e.r.failf("%s: a panic or a data race in its log", p.name)
		}
	}
}

// printLogTails prints the end of every log of the scenario.
func (e *scenarioEnv) printLogTails() {
	for _, p := range e.procs {
		fmt.Fprintf(e.out, "    --- the last lines of %s:\n", p.logPath)
		for _, line := range lastLines(p.logPath, 15) {
			fmt.Fprintf(e.out, "    | %s\n", line)
		}
	}
}

func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cleanEnv is the environment of the children: the suite's, without the
// variables that configure the order system, flex or the broker, so that
// only what the scenario says applies.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "FLEX_") || strings.HasPrefix(name, "ORDERS_") ||
			strings.HasPrefix(name, "DEVBROKER_") || name == "DATABASE_URL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
