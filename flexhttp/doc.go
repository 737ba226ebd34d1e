// Package flexhttp runs an *http.Server as a worker of a flex service: it
// listens, reports ready once listening, and on halt drains in-flight
// requests before returning, as http.Server.Shutdown does.
//
// [New] wraps the caller's server, fills the timeouts it leaves at zero with
// the Default* constants, and takes its address from [WithAddr], else the
// FLEX_HTTP_ADDR or PORT environment variables, else ":8080". [WithTLS] (or
// FLEX_HTTP_TLS_CERT_FILE and FLEX_HTTP_TLS_KEY_FILE) serves HTTPS, and
// [WithHealth] mounts a flex service's /livez and /readyz on the same server,
// tersely: the status and each check's name, never a failing check's error
// text, unless [WithHealthDetail] says otherwise.
//
// See the package example for a server started on a free port, asked a
// question and halted, and README.md for the environment variables.
package flexhttp
