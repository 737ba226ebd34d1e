package flexhttp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/go-flexible/flexible/flexhttp"
)

// FuzzEnv feeds any text to FLEX_HTTP_ADDR and PORT. New either refuses it
// with an error naming the variable and quoting its value, or listens on
// exactly the address it spells, whose port is a number from 0 to 65535.
// The seeds are the values of TestEnvPrecedence and TestInvalidConfig.
func FuzzEnv(f *testing.F) {
	for _, seed := range [][2]string{
		{"", ""}, {"127.0.0.1:9100", "9000"}, {"", "0"}, {"abc", ""}, {"1:2:3", ""}, {":99999", ""},
		{"localhost:-1", ""}, {":http", ""}, {"127.0.0.1:", ""}, {"", "abc"}, {"", ":8080"}, {"", "65536"},
		{"[::1]:8080", ""}, {"[::1%eth0]:0", ""}, {"[fe80::1", ""}, {":+80", ""}, {":0x50", ""}, {"", "+80"},
		{"", " 80"}, {"\xff:80", ""}, {"a b:1", ""}, {":080", "0080"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, addr, port string) {
		if strings.ContainsRune(addr, 0) || strings.ContainsRune(port, 0) {
			return // the environment cannot hold NUL
		}
		t.Setenv(flexhttp.EnvAddr, addr)
		t.Setenv(flexhttp.EnvPort, port)
		name, value, want := flexhttp.EnvAddr, addr, addr
		if addr == "" {
			name, value, want = flexhttp.EnvPort, port, ":"+port
		}
		srv := &http.Server{}
		_, err := flexhttp.New(srv)
		if value == "" {
			if err != nil || srv.Addr != flexhttp.DefaultAddr {
				t.Fatalf("New without variables = %q, %v; want %q", srv.Addr, err, flexhttp.DefaultAddr)
			}
			return
		}
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, fmt.Sprintf("flexhttp: invalid %s %q: ", name, value)) {
				t.Fatalf("error %q does not name %s %q", msg, name, value)
			}
			return
		}
		if srv.Addr != want {
			t.Fatalf("%s %q: listens on %q, want %q", name, value, srv.Addr, want)
		}
		_, p, err := net.SplitHostPort(srv.Addr)
		if _, perr := strconv.ParseUint(p, 10, 16); err != nil || perr != nil {
			t.Fatalf("%s %q taken, but its port %q is not a port number (%v, %v)", name, value, p, err, perr)
		}
	})
}

// FuzzTerseHealth gives the public server's health endpoints a handler
// that answers anything. What they serve holds only the fields of the
// terse form, "status" and each check's "name" and "status", with statuses
// "ok" or "fail" and the overall one following the status code: whatever
// else the handler wrote, error texts included, is not served.
func FuzzTerseHealth(f *testing.F) {
	f.Add(503, []byte(`{"status":"fail","checks":[{"name":"db","status":"fail","error":"dial tcp 10.0.0.7:5432: refused"}]}`))
	f.Add(200, []byte(`{"status":"ok","checks":[{"name":"shutdown","status":"ok"}]}`))
	f.Add(503, []byte(`{"checks":[{"name":"a","status":"ok","error":"x","extra":{"k":[1,2]}}],"host":"h"}`))
	f.Add(500, []byte("plain text: database down"))
	f.Add(200, []byte(`{"checks":null}`))
	f.Add(200, []byte(`{"checks":[{"name":1}]}`))
	f.Add(200, []byte(`{"checks":[{"Name":"x","STATUS":"ok","Error":"e"}]}`))
	f.Add(204, []byte{})
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		if code < 200 || code > 599 {
			return // net/http refuses other codes from any handler
		}
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write(body)
		})
		srv := &http.Server{}
		if _, err := flexhttp.New(srv, flexhttp.WithoutEnv(), flexhttp.WithHealth(inner)); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, flexhttp.ReadyzPath, nil))
		if rec.Code != code {
			t.Fatalf("status %d, want the handler's %d", rec.Code, code)
		}
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		var got struct {
			Status string `json:"status"`
			Checks []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"checks"`
		}
		if err := dec.Decode(&got); err != nil || dec.More() {
			t.Fatalf("served %q: not the terse form: %v", rec.Body, err)
		}
		if want := map[bool]string{true: "ok", false: "fail"}[code < 300]; got.Status != want {
			t.Errorf("served status %q for %d, want %q", got.Status, code, want)
		}
		for _, c := range got.Checks {
			if c.Status != "ok" && c.Status != "fail" {
				t.Errorf("served check status %q", c.Status)
			}
		}
	})
}
