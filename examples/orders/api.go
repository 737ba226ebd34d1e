package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// maxBodyBytes bounds the body of POST /orders.
const maxBodyBytes = 1 << 20

// Page sizes of GET /orders.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// api serves the public HTTP API:
//
//	POST /orders              create an order: {"customer": "...", "items": [{"sku", "qty", "price_cents"}]}
//	GET  /orders/{id}         one order
//	GET  /orders?limit=N      the most recent orders, newest first
//	POST /orders/{id}/cancel  cancel an order that is not paid yet
//
// Errors are JSON: {"error": "...", "problems": ["items[0].qty: ..."]}.
type api struct {
	store *store
	log   *slog.Logger
}

// handler returns the API's routes. Wrap the returned mux itself with the
// metrics middleware, which labels requests by the mux's patterns.
func (a *api) handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", a.create)
	mux.HandleFunc("GET /orders", a.list)
	mux.HandleFunc("GET /orders/{id}", a.get)
	mux.HandleFunc("POST /orders/{id}/cancel", a.cancel)
	return mux
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	var req newOrderRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON body: more than one value")
		return
	}
	if problems := req.validate(); len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid order", Problems: problems})
		return
	}
	o, err := a.store.createOrder(r.Context(), req)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.log.Info("orders: order created", "order", o.ID, "customer", o.Customer, "total_cents", o.TotalCents)
	w.Header().Set("Location", "/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	o, err := a.store.getOrder(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("order %q not found", r.PathValue("id")))
	case err != nil:
		a.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	limit := defaultLimit
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid limit %q: want an integer from 1 to %d", raw, maxLimit))
			return
		}
		limit = n
	}
	orders, err := a.store.recentOrders(r.Context(), limit)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if orders == nil {
		orders = []order{} // [] rather than null
	}
	writeJSON(w, http.StatusOK, map[string][]order{"orders": orders})
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	applied, current, err := a.store.apply(r.Context(), id, toCancelled)
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("order %q not found", id))
		return
	case err != nil:
		a.internalError(w, r, err)
		return
	case !applied:
		writeError(w, http.StatusConflict, fmt.Sprintf("order %q is %s: only a created order can be cancelled", id, current))
		return
	}
	a.log.Info("orders: order cancelled", "order", id)
	a.get(w, r)
}

// internalError logs err and answers 500 without revealing it.
func (a *api) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "orders: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
