//go:build linux

package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// balancer spreads TCP connections over backends round-robin, as a
// Kubernetes Service does: a connection goes to the next backend that
// accepts it, so a replica that is restarting (refusing connections) gets
// none. It is layer 4: a keep-alive connection stays with its backend
// until one side closes it.
type balancer struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// newBalancer listens on a free loopback port and serves until close.
func newBalancer(backends ...string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

func (b *balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.proxy(c)
		}()
	}
}

// proxy connects c to the first backend, in turn, that accepts, and
// copies both ways until either side closes.
func (b *balancer) proxy(c net.Conn) {
	defer c.Close()
	up := b.dial()
	if up == nil {
		return // every backend refused: the client sees its connection closed
	}
	defer up.Close()
	if !b.hold(c, up) {
		return
	}
	defer b.release(c, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close, so that a response still arrives after the
		// request side ended.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

func (b *balancer) dial() net.Conn {
	start := b.next.Add(1)
	for i := range len(b.backends) {
		addr := b.backends[(int(start)+i)%len(b.backends)]
		if up, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return up
		}
	}
	return nil
}

// hold records a pair of connections, so that close can cut them; it
// returns false when the balancer is closed.
func (b *balancer) hold(c, up net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns == nil {
		return false
	}
	b.conns[c], b.conns[up] = struct{}{}, struct{}{}
	return true
}

func (b *balancer) release(c, up net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
	delete(b.conns, up)
}

// close stops accepting, cuts every connection and waits for its
// goroutines.
func (b *balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.conns = nil
	b.mu.Unlock()
	b.wg.Wait()
}
