package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// balancerConfig is the HAProxy configuration: one frontend on loopback, one
// backend with a server per replica, each health-checked on its way's path.
//
// The checks stand for a Kubernetes readiness probe: fall is the probe's
// failureThreshold, rise its successThreshold, and inter is chosen so that
// fall × inter, the longest a replica can fail its check before HAProxy takes
// it out, fits inside FLEX_SHUTDOWN_DELAY (see timing). The retries stand
// for an ingress such as ingress-nginx (proxy_next_upstream error timeout,
// 3 tries): a refused connection is retried on another replica. That favours
// the ways that close their listener without failing readiness first.
// Every request is logged (httplog) to the way's log, which -keep keeps.
const balancerConfig = `global
	nbthread 1
	maxconn 4096
	stats socket {{.Socket}} mode 600 level admin
	log stdout format raw local0
defaults
	mode http
	timeout connect 1s
	timeout client 60s
	timeout server 60s
	timeout check {{.Inter}}
	log global
	option httplog
	retries 3
	option redispatch 1
frontend fe
	bind {{.Addr}}
	default_backend replicas
backend replicas
	balance roundrobin
	option httpchk GET {{.Check}}
	http-check expect status 200
	default-server check inter {{.Inter}} fall {{.Fall}} rise {{.Rise}}
{{- range .Servers}}
	server {{.Name}} {{.Addr}}
{{- end}}
`

// server is one replica as the balancer knows it.
type server struct{ Name, Addr string }

// balancer is a running haproxy.
type balancer struct {
	addr   string // where the load goes
	socket string // the stats socket
	cmd    *exec.Cmd
	exited chan struct{}
}

// startBalancer writes the configuration into dir, as name.haproxy.cfg, and
// starts haproxy on addr, in front of servers; it returns once the stats
// socket answers.
func startBalancer(ctx context.Context, dir, name, addr, check string, t timing, servers []server, log io.Writer) (*balancer, error) {
	b := &balancer{addr: addr, socket: filepath.Join(dir, name+".sock"), exited: make(chan struct{})}
	cfg := filepath.Join(dir, name+".haproxy.cfg")
	if err := writeConfig(cfg, map[string]any{
		"Socket": b.socket, "Addr": addr, "Check": check, "Servers": servers,
		"Inter": durationMS(t.inter), "Fall": t.fall, "Rise": t.rise,
	}); err != nil {
		return nil, err
	}
	b.cmd = exec.Command("haproxy", "-f", cfg, "-db")
	b.cmd.Stdout, b.cmd.Stderr = log, log
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("rollingdeploy: cannot start haproxy: %w", err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	for {
		if _, err := b.status(); err == nil {
			return b, nil
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("rollingdeploy: haproxy exited at start (%s): see its log", cfg)
		case <-ctx.Done():
			b.stop()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// writeConfig renders balancerConfig with data into path.
func writeConfig(path string, data any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tmpl := template.Must(template.New("haproxy").Parse(balancerConfig))
	if err := tmpl.Execute(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// durationMS formats d for HAProxy, in milliseconds.
func durationMS(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// status returns each server's state as the stats socket reports it: "UP",
// "DOWN", or a transition such as "UP 1/2" (one failed check of two).
func (b *balancer) status() (map[string]string, error) {
	conn, err := net.DialTimeout("unix", b.socket, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil, err
	}
	return parseStat(bufio.NewReader(conn))
}

// parseStat reads the CSV of "show stat" and returns the state of each
// server of the backend "replicas".
func parseStat(r io.Reader) (map[string]string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("rollingdeploy: haproxy stats: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("rollingdeploy: haproxy stats: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	states := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > st && row[px] == "replicas" && row[sv] != "BACKEND" {
			states[row[sv]] = row[st]
		}
	}
	return states, nil
}

// waitUp returns once the balancer reports server name as UP, with no
// failed check pending.
func (b *balancer) waitUp(ctx context.Context, name string) error {
	for {
		states, err := b.status()
		if err != nil {
			return err
		}
		if states[name] == "UP" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollingdeploy: haproxy does not see %s UP (it is %q): %w", name, states[name], ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop ends haproxy and waits for it.
func (b *balancer) stop() {
	b.cmd.Process.Kill()
	<-b.exited
}
