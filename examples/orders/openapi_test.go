package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The tests of openapi.json: it is an OpenAPI 3 document, it describes
// exactly the routes of the API's mux, its schemas and limits are those of
// the code, the API's answers validate against it, and /openapi.json
// serves it.

// openAPIDoc is openapi.json, decoded.
type openAPIDoc map[string]any

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// at returns the value at path in the document, following $ref, or fails
// the test naming the path.
func (d openAPIDoc) at(t *testing.T, path ...string) any {
	t.Helper()
	var v any = map[string]any(d)
	for i, p := range path {
		m, ok := d.resolve(v).(map[string]any)
		if !ok {
			t.Fatalf("openapi.json: %s is not an object", strings.Join(path[:i], "."))
		}
		if v, ok = m[p]; !ok {
			t.Fatalf("openapi.json: no %s", strings.Join(path[:i+1], "."))
		}
	}
	return d.resolve(v)
}

// resolve follows v's $ref, if any, within the document ("#/a/b").
func (d openAPIDoc) resolve(v any) any {
	for {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = d.pointer(ref)
		if v == nil {
			return nil
		}
	}
}

// pointer returns what a local $ref points to, or nil.
func (d openAPIDoc) pointer(ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var v any = map[string]any(d)
	for p := range strings.SplitSeq(rest, "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[p]; !ok {
			return nil
		}
	}
	return v
}

// httpMethods are the operations of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns the documented operations as ServeMux patterns,
// "METHOD /path", with the path item of each.
func (d openAPIDoc) operations(t *testing.T) map[string]map[string]any {
	t.Helper()
	paths, ok := d["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json: paths is not an object")
	}
	ops := make(map[string]map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return ops
}

// validate returns how v, decoded JSON, does not match schema: the
// keywords openapi.json uses, checked the JSON Schema way.
func (d openAPIDoc) validate(schema any, v any, where string) []string {
	s, ok := d.resolve(schema).(map[string]any)
	if !ok {
		return []string{where + ": schema not found"}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, where+": "+fmt.Sprintf(format, args...)) }
	for _, sub := range asSlice(s["allOf"]) {
		errs = append(errs, d.validate(sub, v, where)...)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		bad("%v is not one of %v", v, enum)
	}
	typ, _ := s["type"].(string)
	switch v := v.(type) {
	case map[string]any:
		if typ != "" && typ != "object" {
			bad("an object, want %s", typ)
			break
		}
		props, _ := s["properties"].(map[string]any)
		for _, name := range asSlice(s["required"]) {
			if _, ok := v[name.(string)]; !ok {
				bad("required %q missing", name)
			}
		}
		for name, val := range v {
			if p, ok := props[name]; ok {
				errs = append(errs, d.validate(p, val, where+"."+name)...)
			} else if s["additionalProperties"] == false {
				bad("property %q not documented", name)
			}
		}
	case []any:
		if typ != "" && typ != "array" {
			bad("an array, want %s", typ)
			break
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(v)) < n {
			bad("%d items, want at least %v", len(v), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(v)) > n {
			bad("%d items, want at most %v", len(v), n)
		}
		for i, e := range v {
			errs = append(errs, d.validate(s["items"], e, fmt.Sprintf("%s[%d]", where, i))...)
		}
	case string:
		if typ != "" && typ != "string" {
			bad("a string, want %s", typ)
			break
		}
		n := float64(utf8.RuneCountInString(v))
		if min, ok := s["minLength"].(float64); ok && n < min {
			bad("%q shorter than %v", v, min)
		}
		if max, ok := s["maxLength"].(float64); ok && n > max {
			bad("%q longer than %v", v, max)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			bad("%q does not match %s", v, p)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				bad("%q is not a date-time: %v", v, err)
			}
		}
	case float64:
		if typ != "" && typ != "number" && (typ != "integer" || v != math.Trunc(v)) {
			bad("%v, want %s", v, typ)
			break
		}
		if min, ok := s["minimum"].(float64); ok && v < min {
			bad("%v below %v", v, min)
		}
		if max, ok := s["maximum"].(float64); ok && v > max {
			bad("%v above %v", v, max)
		}
	case bool:
		if typ != "" && typ != "boolean" {
			bad("a boolean, want %s", typ)
		}
	case nil:
		bad("null, want %s", typ)
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// checkResponse fails the test unless resp is documented for the
// operation pattern ("METHOD /path/{id}"): its status, the headers the
// document requires or describes, its Content-Type and its body, which it
// returns.
func (d openAPIDoc) checkResponse(t *testing.T, pattern string, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	op, ok := d.operations(t)[pattern]
	if !ok {
		t.Fatalf("%s: not documented", pattern)
	}
	responses, _ := op["responses"].(map[string]any)
	doc, ok := d.resolve(responses[strconv.Itoa(resp.StatusCode)]).(map[string]any)
	if !ok {
		t.Fatalf("%s answered %d, which is not documented (body %s)", pattern, resp.StatusCode, body)
	}
	headers, _ := doc["headers"].(map[string]any)
	for name, h := range headers {
		h, _ := d.resolve(h).(map[string]any)
		got := resp.Header.Get(name)
		if got == "" {
			if h["required"] == true {
				t.Errorf("%s %d: header %s missing", pattern, resp.StatusCode, name)
			}
			continue
		}
		var v any = got
		if hs, _ := d.resolve(h["schema"]).(map[string]any); hs["type"] == "integer" {
			n, err := strconv.Atoi(got)
			if err != nil {
				t.Errorf("%s %d: header %s = %q, want an integer", pattern, resp.StatusCode, name, got)
				continue
			}
			v = float64(n)
		}
		for _, e := range d.validate(h["schema"], v, "header "+name) {
			t.Errorf("%s %d: %s", pattern, resp.StatusCode, e)
		}
	}
	content, _ := doc["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) != 0 {
			t.Errorf("%s %d: a body, but none documented", pattern, resp.StatusCode)
		}
		return body
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := content[mediaType].(map[string]any)
	if !ok {
		t.Fatalf("%s %d: Content-Type %q not documented", pattern, resp.StatusCode, mediaType)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s %d: body %s: %v", pattern, resp.StatusCode, body, err)
	}
	for _, e := range d.validate(media["schema"], v, "body") {
		t.Errorf("%s %d: %s", pattern, resp.StatusCode, e)
	}
	return body
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if v := doc["openapi"]; v != "3.0.3" && v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.0.3 or 3.1.0", v)
	}
	for _, f := range []string{"title", "version"} {
		if s, _ := doc.at(t, "info", f).(string); s == "" {
			t.Errorf("info.%s is empty", f)
		}
	}
	ops := doc.operations(t)
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	for pattern, op := range ops {
		if r, _ := op["responses"].(map[string]any); len(r) == 0 {
			t.Errorf("%s: no responses", pattern)
		}
	}
	for _, name := range []string{"Order", "Item", "NewOrder", "OrderList", "Problem"} {
		doc.at(t, "components", "schemas", name, "properties")
	}
	// Every $ref points into the document.
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && doc.pointer(ref) == nil {
				t.Errorf("%s: $ref %q points to nothing", where, ref)
			}
			for k, e := range v {
				walk(e, where+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, fmt.Sprintf("%s/%d", where, i))
			}
		}
	}
	walk(map[string]any(doc), "#")
}

// TestOpenAPIRoutes checks that openapi.json documents every route the
// API's mux registers, and nothing else.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := doc.operations(t)
	a := &api{}
	var registered []string
	for _, r := range a.routes() {
		registered = append(registered, r.pattern)
		if _, ok := documented[r.pattern]; !ok {
			t.Errorf("route %q is not in openapi.json", r.pattern)
		}
	}
	// The mux routes each documented operation to the pattern of the same
	// method and path.
	mux := a.handler()
	param := regexp.MustCompile(`\{([^}]*)\}`)
	for pattern, op := range documented {
		if !slices.Contains(registered, pattern) {
			t.Errorf("openapi.json documents %q, which the API does not serve", pattern)
		}
		method, path, _ := strings.Cut(pattern, " ")
		r := httptest.NewRequest(method, param.ReplaceAllString(path, "ord_abc"), nil)
		if _, got := mux.Handler(r); got != pattern {
			t.Errorf("%s %s is routed to %q, want %q", method, r.URL.Path, got, pattern)
		}
		// Each {name} of the path is a documented path parameter.
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			found := false
			for _, p := range asSlice(op["parameters"]) {
				p, _ := doc.resolve(p).(map[string]any)
				found = found || (p["in"] == "path" && p["name"] == m[1] && p["required"] == true)
			}
			if !found {
				t.Errorf("%s: path parameter %q is not documented", pattern, m[1])
			}
		}
	}
}

// TestOpenAPISchemas checks the schemas against the Go types and the
// limits against the constants the code enforces.
func TestOpenAPISchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{"Order": order{}, "Item": item{}, "NewOrder": newOrderRequest{}, "Problem": problem{},
		"OrderList": struct {
			Orders []order `json:"orders"`
		}{}} {
		var want []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			want = append(want, tag)
		}
		var got []string
		for p := range doc.at(t, "components", "schemas", name, "properties").(map[string]any) {
			got = append(got, p)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, want those of %T: %v", name, got, v, want)
		}
	}

	limits := []struct {
		path []string
		want float64
	}{
		{[]string{"Item", "properties", "sku", "minLength"}, 1},
		{[]string{"Item", "properties", "sku", "maxLength"}, maxSKULen},
		{[]string{"Item", "properties", "qty", "minimum"}, 1},
		{[]string{"Item", "properties", "qty", "maximum"}, maxQty},
		{[]string{"Item", "properties", "price_cents", "minimum"}, 0},
		{[]string{"Item", "properties", "price_cents", "maximum"}, maxPriceCents},
		{[]string{"NewOrder", "properties", "customer", "minLength"}, 1},
		{[]string{"NewOrder", "properties", "customer", "maxLength"}, maxCustomerLen},
		{[]string{"NewOrder", "properties", "items", "minItems"}, 1},
		{[]string{"NewOrder", "properties", "items", "maxItems"}, maxItems},
		{[]string{"Order", "properties", "customer", "maxLength"}, maxCustomerLen},
		{[]string{"Order", "properties", "items", "maxItems"}, maxItems},
		{[]string{"Order", "properties", "total_cents", "maximum"}, maxItems * maxQty * maxPriceCents},
		{[]string{"OrderList", "properties", "orders", "maxItems"}, maxLimit},
	}
	for _, l := range limits {
		path := append([]string{"components", "schemas"}, l.path...)
		if got := doc.at(t, path...); got != l.want {
			t.Errorf("%s = %v, want %v", strings.Join(l.path, "."), got, l.want)
		}
	}
	limit := param(t, doc, "GET /orders", "limit")
	for k, want := range map[string]float64{"minimum": 1, "maximum": maxLimit, "default": defaultLimit} {
		if got := limit[k]; got != want {
			t.Errorf("limit.%s = %v, want %v", k, got, want)
		}
	}
	key := param(t, doc, "POST /orders", headerIdempotencyKey)
	if got := key["maxLength"]; got != float64(maxIdempotencyKeyLen) {
		t.Errorf("%s.maxLength = %v, want %d", headerIdempotencyKey, got, maxIdempotencyKeyLen)
	}
	for _, desc := range []any{doc.at(t, "components", "responses", "TooLarge", "description"),
		doc.at(t, "paths", "/orders", "post", "requestBody", "description")} {
		if !strings.Contains(desc.(string), strconv.Itoa(maxBodyBytes)) {
			t.Errorf("%q does not give the body's limit, %d bytes", desc, maxBodyBytes)
		}
	}

	var statuses []any
	for _, s := range []status{statusCreated, statusPaid, statusShipped, statusCancelled, statusExpired} {
		statuses = append(statuses, string(s))
	}
	if got := doc.at(t, "components", "schemas", "Status", "enum"); !reflect.DeepEqual(got, statuses) {
		t.Errorf("Status enum = %v, want %v", got, statuses)
	}

	// The patterns accept what the code accepts.
	idPattern := regexp.MustCompile(doc.at(t, "components", "schemas", "OrderID", "pattern").(string))
	for _, id := range []string{newOrderID(), "ord_a", "ord_" + strings.Repeat("a", maxIDLen), "ord_" + strings.Repeat("a", maxIDLen+1),
		"ord_", "ord_A", "ord_1", "ord_8", "x_abc", "ord_abc/x", "ord_a b", "ord_é"} {
		if got, want := idPattern.MatchString(id), validID(id); got != want {
			t.Errorf("OrderID pattern matches %q: %v, validID: %v", id, got, want)
		}
	}
	location := regexp.MustCompile(doc.at(t, "components", "headers", "Location", "schema", "pattern").(string))
	if id := newOrderID(); !location.MatchString("/orders/" + id) {
		t.Errorf("Location pattern %s refuses /orders/%s", location, id)
	}
	keyPattern := regexp.MustCompile(key["pattern"].(string))
	for _, k := range []string{"7f9c2ba4", "!~", strings.Repeat("k", maxIdempotencyKeyLen), "a b", "a\x7f", "a\tb", "é"} {
		if got, want := keyPattern.MatchString(k), badIdempotencyKey(k) == ""; got != want {
			t.Errorf("%s pattern matches %q: %v, badIdempotencyKey accepts it: %v", headerIdempotencyKey, k, got, want)
		}
	}
}

// param returns the schema of the named parameter of a documented
// operation.
func param(t *testing.T, doc openAPIDoc, pattern, name string) map[string]any {
	t.Helper()
	for _, p := range asSlice(doc.operations(t)[pattern]["parameters"]) {
		if p, _ := doc.resolve(p).(map[string]any); p["name"] == name {
			return doc.resolve(p["schema"]).(map[string]any)
		}
	}
	t.Fatalf("%s: no parameter %s", pattern, name)
	return nil
}

// TestOpenAPIResponses checks the API's answers against openapi.json, and
// the request bodies the test sends against its request schema.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	_, url := testAPI(t)
	newOrder := doc.at(t, "paths", "/orders", "post", "requestBody", "content", "application/json", "schema")
	send := func(method, path string, body any, header ...string) *http.Response {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, url+path, r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	valid := anOrder("alice")
	var asJSON any
	b, _ := json.Marshal(valid)
	json.Unmarshal(b, &asJSON)
	if errs := doc.validate(newOrder, asJSON, "request"); len(errs) > 0 {
		t.Errorf("a valid order does not validate: %v", errs)
	}
	invalid := map[string]any{"customer": "", "items": []any{map[string]any{"sku": "X", "qty": 0, "price_cents": 5}}}
	if errs := doc.validate(newOrder, invalid, "request"); len(errs) == 0 {
		t.Errorf("an invalid order validates")
	}

	key := []string{headerIdempotencyKey, "openapi-key-1"}
	resp := send("POST", "/orders", valid, key...)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders = %d, want 201", resp.StatusCode)
	}
	var o order
	if err := json.Unmarshal(doc.checkResponse(t, "POST /orders", resp), &o); err != nil {
		t.Fatal(err)
	}
	resp = send("POST", "/orders", valid, key...)
	if resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: Idempotent-Replayed = %q, want true", resp.Header.Get("Idempotent-Replayed"))
	}
	doc.checkResponse(t, "POST /orders", resp)
	doc.checkResponse(t, "POST /orders", send("POST", "/orders", anOrder("bob")))
	doc.checkResponse(t, "POST /orders", send("POST", "/orders", anOrder("bob"), key...))             // 422
	doc.checkResponse(t, "POST /orders", send("POST", "/orders", invalid))                            // 400 with problems
	doc.checkResponse(t, "POST /orders", send("POST", "/orders", strings.Repeat("a", maxBodyBytes)))  // 413
	doc.checkResponse(t, "POST /orders", send("POST", "/orders", valid, headerIdempotencyKey, "a b")) // 400

	doc.checkResponse(t, "GET /orders/{id}", send("GET", "/orders/"+o.ID, nil))
	doc.checkResponse(t, "GET /orders/{id}", send("GET", "/orders/ord_nope", nil)) // 404
	doc.checkResponse(t, "GET /orders", send("GET", "/orders?limit=5", nil))
	doc.checkResponse(t, "GET /orders", send("GET", "/orders?limit=0", nil)) // 400
	doc.checkResponse(t, "POST /orders/{id}/cancel", send("POST", "/orders/"+o.ID+"/cancel", nil))
	doc.checkResponse(t, "POST /orders/{id}/cancel", send("POST", "/orders/"+o.ID+"/cancel", nil)) // 409
	doc.checkResponse(t, "POST /orders/{id}/cancel", send("POST", "/orders/ord_nope/cancel", nil)) // 404
}

// TestOpenAPIServed checks that GET /openapi.json serves openapi.json.
func TestOpenAPIServed(t *testing.T) {
	srv := httptest.NewServer((&api{}).handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json = %d, Content-Type %q; want 200, application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || !bytes.Equal(got, openAPI) {
		t.Errorf("GET /openapi.json served %d bytes, not openapi.json (%d bytes)", len(got), len(want))
	}
}
