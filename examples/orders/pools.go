package main

import (
	"database/sql"
	"time"
)

// The order system keeps two connection pools on its database: the API's,
// of ORDERS_DB_MAX_CONNS connections, and the pipeline's (relay,
// consumers, cron), of ORDERS_DB_PIPELINE_CONNS. So a herd of requests
// waiting for a connection never holds up the writes that move orders
// along and drain the outbox, and the database sees a bounded number of
// connections whatever the load: a restart that meets hundreds of clients
// retrying at once no longer makes PostgreSQL fork a backend for each,
// only to time them out ("failed to connect … context deadline exceeded").
// A request beyond the pool waits for a connection, within its 5 s bound.
//
// On SQLite, where one transaction writes at a time, the two stores share a
// writer (see writer.go), on a connection of its own, that commits their
// writes in groups, the pipeline's first; their pools serve the reads.

// poolIdleTime is how long a connection may stay unused before the pool
// closes it: a quiet service gives its PostgreSQL backends back, a busy one
// keeps every connection open instead of opening and closing them under
// load (database/sql keeps only two idle connections by default).
const poolIdleTime = 5 * time.Minute

// limitPool bounds db to n connections, 0 meaning def, all of which it
// keeps open while they are used at least every poolIdleTime.
func limitPool(db *sql.DB, n, def int) {
	if n <= 0 {
		n = def
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(poolIdleTime)
}
