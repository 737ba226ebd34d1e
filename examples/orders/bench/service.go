package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// service is the order system running as a process of its own, as in
// production: its public API and operations server on loopback ports, an
// in-process Kafka broker with its data in the work directory.
type service struct {
	cmd     *exec.Cmd
	url     string
	opsURL  string
	logPath string
	done    chan error
}

// startService starts the order system on db, with extra environment
// variables, and waits until it is ready.
func (e *env) startService(ctx context.Context, db database, extra ...string) (*service, error) {
	api, ops := freePort(), freePort()
	e.seq++
	s := &service{url: "http://" + api, opsURL: "http://" + ops,
		logPath: filepath.Join(e.dir, fmt.Sprintf("orders-%d.log", e.seq)), done: make(chan error, 1)}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(e.orders)
	s.cmd.Env = append(cleanEnv(), db.envVar,
		"ORDERS_KAFKA_DATA_DIR="+filepath.Join(e.dir, fmt.Sprintf("kafka-%d", e.seq)),
		"FLEX_HTTP_ADDR="+api, "FLEX_METRICS_ADDR="+ops)
	s.cmd.Env = append(s.cmd.Env, extra...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	ready := waitFor(ctx, 60*time.Second, func() bool {
		resp, err := client.Get(s.opsURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ready {
		s.stop()
		return nil, fmt.Errorf("the order system did not become ready within 60 s (log: %s)", s.logPath)
	}
	return s, nil
}

// stop sends SIGTERM and waits for the process to exit.
func (s *service) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("the order system did not exit within 60 s of SIGTERM (log: %s)", s.logPath)
	}
}

// cleanEnv is the harness's environment without the order system's
// settings, so that only those given apply.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ORDERS_") || strings.HasPrefix(name, "FLEX_") || name == "DATABASE_URL" || name == "PORT" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePort returns a loopback address with a port free a moment ago.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}
