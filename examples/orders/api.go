package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxBodyBytes bounds the body of POST /orders.
const maxBodyBytes = 1 << 20

// Page sizes of GET /orders.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// defaultDBTimeout bounds the database work of one request, so that a
// database that does not answer (a network partition drops packets
// without resetting anything) gets a 503 rather than a hung client.
const defaultDBTimeout = 5 * time.Second

// api serves the public HTTP API:
//
//	POST /orders              create an order: {"customer": "...", "items": [{"sku", "qty", "price_cents"}]}
//	                          with an optional Idempotency-Key header (see idempotency.go)
//	GET  /orders/{id}         one order
//	GET  /orders?limit=N      the most recent orders, newest first
//	POST /orders/{id}/cancel  cancel an order that is not paid yet
//	GET  /openapi.json        the OpenAPI 3 document of these routes (openapi.json)
//
// Errors are RFC 9457 problem details (see problem): 400, 404, 409, 413 and
// 422 for the request, 503 with Retry-After while the database is
// unavailable, 500 for anything else.
type api struct {
	store          *store
	log            *slog.Logger
	idempotencyTTL time.Duration // how long a key is remembered; 0 means defaultIdempotencyTTL
	dbTimeout      time.Duration // bounds each request's database work; 0 means defaultDBTimeout
}

// newAPI returns the API on s with the settings of cfg.
func newAPI(s *store, cfg config, log *slog.Logger) *api {
	return &api{store: s, log: log, idempotencyTTL: cfg.IdempotencyTTL}
}

// route is one route of the API: its ServeMux pattern and its handler.
type route struct {
	pattern string
	handle  http.HandlerFunc
}

// routes returns every route of the API. handler registers these and no
// other, and openapi.json must describe exactly these (TestOpenAPIRoutes).
func (a *api) routes() []route {
	return []route{
		{"POST /orders", a.create},
		{"GET /orders", a.list},
		{"GET /orders/{id}", a.get},
		{"POST /orders/{id}/cancel", a.cancel},
		{"GET /openapi.json", serveOpenAPI},
	}
}

// handler returns the API's routes. Wrap the returned mux itself with the
// metrics middleware, which labels requests by the mux's patterns.
func (a *api) handler() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range a.routes() {
		mux.HandleFunc(r.pattern, r.handle)
	}
	return mux
}

// openAPI is the OpenAPI 3 document of the API, served at /openapi.json.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI serves openAPI. It needs no database, so it answers while
// the database is unavailable too.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

// dbContext returns the context of a request's database work.
func (a *api) dbContext(r *http.Request) (context.Context, context.CancelFunc) {
	d := a.dbTimeout
	if d <= 0 {
		d = defaultDBTimeout
	}
	return context.WithTimeout(r.Context(), d)
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(headerIdempotencyKey)
	if bad := badIdempotencyKey(key); bad != "" {
		writeProblem(w, http.StatusBadRequest, "invalid "+headerIdempotencyKey+": "+bad)
		return
	}
	req, ok := a.decodeOrder(w, r)
	if !ok {
		return
	}
	if problems := req.validate(); len(problems) > 0 {
		writeProblem(w, http.StatusBadRequest, "invalid order", problems...)
		return
	}
	var idem *idempotency
	if key != "" {
		idem = &idempotency{key: key, hash: requestHash(req), ttl: a.idempotencyTTL}
	}
	ctx, cancel := a.dbContext(r)
	defer cancel()
	o, res, err := a.store.createIdempotent(ctx, req, idem)
	var reused *keyReusedError
	switch {
	case errors.As(err, &reused):
		writeProblem(w, http.StatusUnprocessableEntity, reused.Error())
		return
	case err != nil:
		a.fail(w, r, err)
		return
	case res.replayed:
		w.Header().Set("Idempotent-Replayed", "true")
		a.log.Info("orders: order creation replayed", "order", res.orderID, "idempotency_key", key)
	default:
		a.log.Info("orders: order created", "order", o.ID, "customer", o.Customer, "total_cents", o.TotalCents)
	}
	w.Header().Set("Location", res.location)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// decodeOrder reads the body of POST /orders, or answers the error and
// returns false. The body must be valid UTF-8: encoding/json would replace
// invalid bytes with U+FFFD and store something else than was sent.
func (a *api) decodeOrder(w http.ResponseWriter, r *http.Request) (req newOrderRequest, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes))
			return req, false
		}
		writeProblem(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return req, false
	}
	if !utf8.Valid(body) {
		writeProblem(w, http.StatusBadRequest, "invalid JSON body: not valid UTF-8")
		return req, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return req, false
	}
	if dec.More() {
		writeProblem(w, http.StatusBadRequest, "invalid JSON body: more than one value")
		return req, false
	}
	return req, true
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.dbContext(r)
	defer cancel()
	o, err := a.store.getOrder(ctx, r.PathValue("id"))
	switch {
	case errors.Is(err, errNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("order %q not found", r.PathValue("id")))
	case err != nil:
		a.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	limit := defaultLimit
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("invalid limit %q: want an integer from 1 to %d", raw, maxLimit))
			return
		}
		limit = n
	}
	ctx, cancel := a.dbContext(r)
	defer cancel()
	orders, err := a.store.recentOrders(ctx, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if orders == nil {
		orders = []order{} // [] rather than null
	}
	writeJSON(w, http.StatusOK, map[string][]order{"orders": orders})
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := a.dbContext(r)
	defer cancel()
	applied, current, err := a.store.apply(ctx, id, toCancelled)
	switch {
	case errors.Is(err, errNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("order %q not found", id))
		return
	case err != nil:
		a.fail(w, r, err)
		return
	case !applied:
		writeProblem(w, http.StatusConflict, fmt.Sprintf("order %q is %s: only a created order can be cancelled", id, current))
		return
	}
	a.log.Info("orders: order cancelled", "order", id)
	a.get(w, r)
}

// fail answers a failed database call: 503 with Retry-After when the
// database is unavailable (see dbUnavailable), else 500. Neither reveals
// the error, which is logged.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	if dbUnavailable(err) {
		a.log.WarnContext(r.Context(), "orders: database unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		writeUnavailable(w)
		return
	}
	a.log.ErrorContext(r.Context(), "orders: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeProblem(w, http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
