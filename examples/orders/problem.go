package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// problem is the body of every error the API answers: an RFC 9457 problem
// detail, served as application/problem+json. Type is "about:blank" (the
// status says what kind of problem it is), Title is the status text,
// Detail says what was wrong with this request and Problems, an extension
// member, lists each invalid field of an invalid order.
type problem struct {
	Type     string   `json:"type"`
	Title    string   `json:"title"`
	Status   int      `json:"status"`
	Detail   string   `json:"detail"`
	Problems []string `json:"problems,omitempty"`
}

// retryAfter is the Retry-After of a 503: long enough for a pool to
// reconnect or a failover to finish, short enough that a client's retry
// lands soon after the database is back.
const retryAfter = 2 * time.Second

// writeProblem answers status with a problem body saying detail.
func writeProblem(w http.ResponseWriter, status int, detail string, problems ...string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Problems: problems,
	})
}

// writeUnavailable answers 503 with Retry-After: the database is
// unavailable and the same request may succeed later.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	writeProblem(w, http.StatusServiceUnavailable, "the database is unavailable: retry later")
}
