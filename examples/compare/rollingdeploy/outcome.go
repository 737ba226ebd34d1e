package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
)

// kind is what became of one request, as the client saw it.
type kind int

const (
	// ok is a 200 with the whole, unchanged body.
	ok kind = iota
	// connFailed is a connection refused or reset, or closed without a
	// response.
	connFailed
	// lbStatus is a 502, 503 or 504: the load balancer's own answers when it
	// has no replica to give the request to, or lost the one it had.
	lbStatus
	// otherStatus is any other status but 200.
	otherStatus
	// truncated is a 200 whose body ended early or differs from work.Body.
	truncated
	// timedOut is a request still unanswered at the client's timeout.
	timedOut
	// otherError is any other client error.
	otherError
	kinds // the number of kinds
)

// String is the kind's column heading.
func (k kind) String() string {
	return [...]string{"ok", "conn", "5xx-lb", "status", "truncated", "timeout", "other"}[k]
}

// fetch sends one request and classifies its outcome against want, the body
// every response must carry.
func fetch(ctx context.Context, client *http.Client, method, url string, want []byte) (kind, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return otherError, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return classifyError(err), err
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(resp.Body)
	return classifyResponse(resp.StatusCode, body, readErr, want), readErr
}

// classifyResponse classifies a response by its status and the body read.
func classifyResponse(status int, body []byte, readErr error, want []byte) kind {
	switch {
	case status == http.StatusBadGateway, status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return lbStatus
	case status != http.StatusOK:
		return otherStatus
	case readErr != nil, !bytes.Equal(body, want):
		return truncated
	}
	return ok
}

// classifyError classifies an error from http.Client.Do: no response at all.
func classifyError(err error) kind {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return connFailed
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return timedOut
	}
	return otherError
}
