package flexhttp

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Paths at which [WithHealth] serves its handler.
const (
	LivezPath  = "/livez"
	ReadyzPath = "/readyz"
)

// healthHandler serves the health handler at /livez and /readyz and passes
// every other request to next. The check is one string comparison, so that
// the request path stays as cheap as the caller's handler alone.
type healthHandler struct {
	health http.Handler
	next   http.Handler
}

func (h *healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == LivezPath || p == ReadyzPath {
		h.health.ServeHTTP(w, r)
		return
	}
	h.next.ServeHTTP(w, r)
}

// maxHealthBody bounds what terseHealth reads of a health answer. A
// flex.Health report is far smaller; a larger body is answered with its
// status alone.
const maxHealthBody = 1 << 20

// terseHealth serves a health handler's answers without their detail: the
// status code as it is, and a JSON body holding only the overall status
// and each check's name and status, copied field by field from a
// flex.Report. Anything else the handler writes, its error texts and
// headers included, is dropped, so that nothing added to the report later
// can leak either.
type terseHealth struct{ h http.Handler }

// terseReport is the body served by [WithHealth] unless [WithHealthDetail]
// is on: a flex.Report without the checks' error texts.
type terseReport struct {
	Status string       `json:"status"` // "ok" for a 2xx answer, else "fail"
	Checks []terseCheck `json:"checks,omitempty"`
}

type terseCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "fail"
}

func (t terseHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &healthRecorder{header: make(http.Header)}
	t.h.ServeHTTP(rec, r)
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(terse(code, rec.body.Bytes()))
	}
}

// terse returns the terse body of a health answer with status code and
// body: the report's check names and statuses when body is a report, and
// the overall status, taken from the code, in any case.
func terse(code int, body []byte) []byte {
	var in struct {
		Checks []terseCheck `json:"checks"`
	}
	out := terseReport{Status: "fail"}
	if code >= 200 && code < 300 {
		out.Status = "ok"
	}
	if json.Unmarshal(body, &in) == nil {
		for _, c := range in.Checks {
			status := "fail"
			if c.Status == "ok" {
				status = "ok"
			}
			out.Checks = append(out.Checks, terseCheck{Name: c.Name, Status: status})
		}
	}
	b, _ := json.Marshal(out) // cannot fail: strings only
	return append(b, '\n')
}

// healthRecorder keeps a health handler's answer for terseHealth.
type healthRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *healthRecorder) Header() http.Header { return r.header }

// WriteHeader keeps the first final status code; 1xx answers are
// informational and are not passed on.
func (r *healthRecorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
}

func (r *healthRecorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if room := maxHealthBody - r.body.Len(); len(p) > room {
		r.body.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return r.body.Write(p)
}
