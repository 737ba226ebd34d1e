package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends every kind of bad text, in every string field, in the
// path and in the Idempotency-Key, over real HTTP, on SQLite and on
// PostgreSQL: each gets the same 400 or 404 with a problem naming what is
// wrong, never a 500 (PostgreSQL refuses NUL) or a 201 (SQLite stores
// anything), and nothing is stored.
func TestBadInput(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, cfg config) {
		_, url := testAPIOn(t, cfg)
		type badValue struct{ name, json, want string }
		// Each value as it appears inside a JSON string.
		values := []badValue{
			{"NUL", `a\u0000b`, "control characters (U+0000)"},
			{"escape", `a\u001b[31mb`, "control characters (U+001B)"},
			{"newline", `a\nb`, "control characters (U+000A)"},
			{"trailing newline", `ab\r\n`, "control characters (U+000D)"},
			{"tab", `a\tb`, "control characters (U+0009)"},
			{"DEL", `a\u007fb`, "control characters (U+007F)"},
			{"C1 control", `a\u0085b`, "control characters (U+0085)"},
			{"right-to-left override", `a\u202eb`, "bidirectional formatting characters (U+202E)"},
			{"raw right-to-left override", "a\u202eb", "bidirectional formatting characters (U+202E)"},
			{"first strong isolate", `a\u2068b`, "bidirectional formatting characters (U+2068)"},
			{"right-to-left mark", `a\u200fb`, "bidirectional formatting characters (U+200F)"},
			{"line separator", `a\u2028b`, "line or paragraph separators (U+2028)"},
			{"noncharacter", `a\uffffb`, "noncharacters (U+FFFF)"},
			{"lone surrogate", `a\ud800b`, "U+FFFD"},
			{"replacement character", `a\ufffdb`, "U+FFFD"},
		}
		type badRequest struct {
			name, method, path string
			header             map[string]string
			body               string
			code               int
			want               string
		}
		var reqs []badRequest
		for _, v := range values {
			reqs = append(reqs,
				badRequest{"customer " + v.name, "POST", "/orders", nil,
					`{"customer":"` + v.json + `","items":[{"sku":"X","qty":1,"price_cents":1}]}`, 400, "customer: must not contain " + v.want},
				badRequest{"sku " + v.name, "POST", "/orders", nil,
					`{"customer":"c","items":[{"sku":"X","qty":1,"price_cents":1},{"sku":"` + v.json + `","qty":1,"price_cents":1}]}`, 400, "items[1].sku: must not contain " + v.want},
			)
		}
		for _, field := range []string{"customer", "sku"} {
			body := "{\"customer\":\"c\xff\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"price_cents\":1}]}"
			if field == "sku" {
				body = "{\"customer\":\"c\",\"items\":[{\"sku\":\"X\xc3\x28\",\"qty\":1,\"price_cents\":1}]}"
			}
			reqs = append(reqs, badRequest{field + " invalid UTF-8", "POST", "/orders", nil, body, 400, "not valid UTF-8"})
		}
		for _, id := range []string{"%00", "%ff", "ord_%00", "ord_%ff", "ord_%e2%80%ae", "ord_a%0ab", "ord_ABC", "ord_" + strings.Repeat("a", maxIDLen+1), "x"} {
			reqs = append(reqs,
				badRequest{"get " + id, "GET", "/orders/" + id, nil, "", 404, "not found"},
				badRequest{"cancel " + id, "POST", "/orders/" + id + "/cancel", nil, "", 404, "not found"},
			)
		}
		valid := `{"customer":"c","items":[{"sku":"X","qty":1,"price_cents":1}]}`
		for name, key := range map[string]string{
			"space":     "a b",
			"non-ASCII": "clé",
			"byte 0xff": "a\xffb",
			"too long":  strings.Repeat("k", maxIdempotencyKeyLen+1),
		} {
			reqs = append(reqs, badRequest{"Idempotency-Key " + name, "POST", "/orders",
				map[string]string{headerIdempotencyKey: key}, valid, 400, "invalid Idempotency-Key"})
		}

		for _, r := range reqs {
			t.Run(r.name, func(t *testing.T) {
				req, err := http.NewRequest(r.method, url+r.path, strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range r.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != r.code {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, resp.StatusCode, b, r.code)
				}
				var p problem
				decodeProblem(t, resp, &p)
				if all := p.Detail + "\n" + strings.Join(p.Problems, "\n"); !strings.Contains(all, r.want) {
					t.Errorf("problem = %q, want it to mention %q", all, r.want)
				}
			})
		}

		var list struct{ Orders []order }
		if code := do(t, "GET", url+"/orders", nil, &list); code != 200 || len(list.Orders) != 0 {
			t.Errorf("after the bad requests: GET /orders = %d with %d orders, want none stored", code, len(list.Orders))
		}
		// Text that is merely unusual is fine, and comes back as sent.
		for _, name := range []string{"Zoë Ångström", "北京市", "O'Brien & Sons \"Ltd\"", "emoji 🛒", "zero\u200dwidth joiner"} {
			var o order
			body := newOrderRequest{Customer: name, Items: []item{{SKU: "SKU-" + name, Qty: 1, PriceCents: 1}}}
			if code := do(t, "POST", url+"/orders", body, &o); code != 201 || o.Customer != name || o.Items[0].SKU != "SKU-"+name {
				t.Errorf("POST /orders for %q = %d %+v, want 201 and the same text", name, code, o)
				continue
			}
			var got order
			if code := do(t, "GET", url+"/orders/"+o.ID, nil, &got); code != 200 || got.Customer != name {
				t.Errorf("GET the order of %q = %d %q", name, code, got.Customer)
			}
		}
	})
}
