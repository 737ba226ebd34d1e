package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// replica is one running process of a way.
type replica struct {
	server
	cmd    *exec.Cmd
	exited chan struct{}
}

// startReplica starts bin listening on srv.Addr (ADDR and FLEX_HTTP_ADDR)
// with env added to the driver's environment, and returns once it answers
// 200 on its check path.
func startReplica(ctx context.Context, bin string, srv server, env []string, check string, log io.Writer) (*replica, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "ADDR="+srv.Addr, "FLEX_HTTP_ADDR="+srv.Addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rollingdeploy: cannot start %s: %w", bin, err)
	}
	r := &replica{server: srv, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(r.exited) }()
	if err := r.waitServing(ctx, check); err != nil {
		r.kill()
		return nil, err
	}
	return r, nil
}

// waitServing returns once the replica answers 200 on path.
func (r *replica) waitServing(ctx context.Context, path string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := client.Get("http://" + r.Addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			return fmt.Errorf("rollingdeploy: %s exited at start: %v", r.Name, r.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("rollingdeploy: %s not serving %s: %w", r.Name, path, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// terminate sends SIGTERM, as Kubernetes does, and waits for the process to
// exit; after within it kills it and says so.
func (r *replica) terminate(within time.Duration) error {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("rollingdeploy: SIGTERM to %s: %w", r.Name, err)
	}
	select {
	case <-r.exited:
		return nil
	case <-time.After(within):
		r.kill()
		return fmt.Errorf("rollingdeploy: %s still running %s after SIGTERM; killed", r.Name, within)
	}
}

// kill ends the process at once and waits for it.
func (r *replica) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}
