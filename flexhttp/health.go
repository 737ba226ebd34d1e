package flexhttp

import "net/http"

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
