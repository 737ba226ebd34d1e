package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-flexible/flexible/examples/compare/work"
)

// hijack returns a handler that takes the connection over and gives it to f.
func hijack(t *testing.T, f func(net.Conn)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		f(conn)
	})
}

func TestFetchClassifies(t *testing.T) {
	body := work.Body()
	tests := []struct {
		name    string
		handler http.Handler
		want    kind
	}{
		{"whole body", work.Handler(), ok},
		{"reset before answering", hijack(t, func(c net.Conn) {
			c.(*net.TCPConn).SetLinger(0) // close sends RST
			c.Close()
		}), connFailed},
		{"closed before answering", hijack(t, func(c net.Conn) { c.Close() }), connFailed},
		{"truncated body", hijack(t, func(c net.Conn) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"))
			c.Write(body[:100])
			c.Close()
		}), truncated},
		{"wrong body", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(append(body[1:], '!'))
		}), truncated},
		{"503 from the balancer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no server available", http.StatusServiceUnavailable)
		}), lbStatus},
		{"502 from the balancer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}), lbStatus},
		{"404", http.NotFoundHandler(), otherStatus},
		{"no answer within the timeout", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}), timedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 500 * time.Millisecond}
			defer client.CloseIdleConnections()
			for _, method := range []string{"GET", "POST"} {
				got, err := fetch(context.Background(), client, method, srv.URL, body)
				if got != tt.want {
					t.Errorf("%s: got %v (%v), want %v", method, got, err, tt.want)
				}
			}
		})
	}
}

func TestFetchRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	got, err := fetch(context.Background(), http.DefaultClient, "POST", "http://"+addr+"/", work.Body())
	if got != connFailed {
		t.Errorf("got %v (%v), want %v", got, err, connFailed)
	}
}

func TestTallyCountsEveryKind(t *testing.T) {
	var tl tally
	for k := kind(0); k < kinds; k++ {
		tl.add(k, time.Duration(k)*time.Millisecond, nil)
	}
	if got, want := tl.failed(), int(kinds)-1; got != want {
		t.Errorf("failed: got %d, want %d", got, want)
	}
	if got, want := tl.slowest, time.Duration(kinds-1)*time.Millisecond; got != want {
		t.Errorf("slowest: got %v, want %v", got, want)
	}
}
