package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestErrorKinds sends requests to TCP servers that fail in each way a
// crashing or stuck server does, and checks the kind each is counted
// under.
func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		want  string
		serve func(net.Conn)
	}{
		{"closed", func(c net.Conn) { // reads the request, closes without answering
			http.ReadRequest(bufio.NewReader(c))
			c.Close()
		}},
		{"reset", func(c net.Conn) { // closes with unread data and SO_LINGER 0: RST
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}},
		{"timeout", func(c net.Conn) {}}, // never answers (closed when the test ends)
	} {
		t.Run(tc.want, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			accepted := make(chan net.Conn)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- c
				}
			}()
			c := newClient("http://"+ln.Addr().String(), 200*time.Millisecond, 1, nil)
			done := make(chan result, 1)
			go func() { done <- c.do(context.Background(), opGet, "GET", "/orders/ord_x", nil, nil) }()
			for {
				select {
				case conn := <-accepted:
					conns = append(conns, conn)
					if tc.want == "reset" {
						conn.Read(make([]byte, 1)) // the request has arrived; leave the rest unread
					}
					tc.serve(conn)
					continue
				case res := <-done:
					if res.errKind != tc.want || !res.failed() || res.errorLabel() != tc.want {
						t.Errorf("errKind = %q (failed %v, label %q), want %q", res.errKind, res.failed(), res.errorLabel(), tc.want)
					}
				}
				break
			}
		})
	}
}
