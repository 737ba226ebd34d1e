package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dbUnavailable reports whether err, from a database call, means that the
// database cannot be reached or cannot take the work now, so that the same
// call is worth retrying later (the API answers 503 with Retry-After):
//
//   - the call's deadline passed (a database that does not answer);
//   - a network error reaching it: connection refused, reset, closed (by
//     the network or by pgx after a failed read or write), a connect
//     error from pgx, an unexpected end of the connection;
//   - PostgreSQL refusing work for its state, not for the request: a
//     connection exception (class 08), insufficient resources (class 53:
//     too many connections, disk full), an operator intervention (57P01
//     shutting down, 57P02 crashed, 57P03 starting up), a read-only
//     standby (25006);
//   - SQLite busy or locked beyond its busy_timeout, unable to open its
//     file, an I/O error, a full disk or a read-only file.
//
// Any other error is the request's or the program's: a constraint, a
// syntax error, a cancelled request (context.Canceled: the client has
// gone). Those answer 500, or whatever the caller makes of them.
func dbUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) { // the server answered: is it refusing all work?
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
			return true
		case code == "57P01", code == "57P02", code == "57P03", code == "25006":
			return true
		}
		return false
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
