package main

import (
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
)

// tcpProxy forwards loopback connections to a target, PostgreSQL, until
// cut: then it closes every connection and closes new ones at once, as a
// database that crashed and does not come back, until restore.
type tcpProxy struct {
	target string
	l      net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	cutting bool
}

// newTCPProxy starts a proxy to target, stopped when the test ends.
func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, l: l, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() { p.serve(&wg) })
	t.Cleanup(func() {
		l.Close()
		p.cut()
		wg.Wait()
	})
	return p
}

func (p *tcpProxy) serve(wg *sync.WaitGroup) {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		wg.Go(func() {
			defer p.untrack(c)
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			if !p.track(up) {
				up.Close()
				return
			}
			defer p.untrack(up)
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, c); done <- struct{}{} }()
			go func() { io.Copy(c, up); done <- struct{}{} }()
			<-done // one side ended: end both
			c.Close()
			up.Close()
			<-done
		})
	}
}

// track records c, or returns false while the proxy is cut.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutting {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cut closes every connection, and every new one until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutting = true
	for c := range p.conns {
		c.Close()
	}
}

// restore forwards new connections again.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.cutting = false
	p.mu.Unlock()
}

// rewrite returns the PostgreSQL URL dsn pointing at the proxy.
func (p *tcpProxy) rewrite(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.l.Addr().String()
	return u.String()
}

// postgresAddr returns the host:port of DATABASE_URL.
func postgresAddr(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(os.Getenv(envDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}
