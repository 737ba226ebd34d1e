// Package work is the one handler every way of examples/compare serves, so
// that the ways differ only in how they start and stop.
//
// Each request does Duration of work and answers 200 with Body, whose length
// and content are fixed: a client that reads anything else knows the
// response was cut (see rollingdeploy's classification).
package work

import (
	"net/http"
	"strconv"
	"time"
)

// Duration is the work each request does before it answers.
const Duration = 20 * time.Millisecond

// BodySize is the length of every response's body.
const BodySize = 4096

// body is written by Handler and never changed.
var body = pattern(BodySize)

// Body returns a copy of every response's body: BodySize bytes of a known
// pattern, so that a truncated or corrupted response differs from it.
func Body() []byte { return append([]byte(nil), body...) }

// pattern returns n bytes cycling through the printable ASCII range.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(' ' + i%95)
	}
	return b
}

// Handler returns the handler: it waits Duration, or until the request is
// cancelled, and then writes Body with its Content-Length.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(Duration):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(BodySize))
		w.Write(body)
	})
}
