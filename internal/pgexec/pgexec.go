// Package pgexec sends several statements to PostgreSQL in one round trip,
// each as a query string of its own.
//
// A string of several statements sent with the simple protocol also takes
// one round trip, but a distributed engine may forward a statement's query
// string to other servers: Citus does for some DDL (CREATE INDEX, ALTER
// TABLE, GRANT), and the workers then get, or refuse, every statement of the
// string. [Each] sends every statement with the extended protocol as its own
// unnamed statement (Parse, Bind, Execute) and one Sync at the end: still one
// round trip, and PostgreSQL itself refuses a piece that holds two
// statements.
package pgexec

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error is returned by [Each] when a statement fails: the statements before
// it ran, the ones after it did not.
type Error struct {
	Index int    // of the failed statement
	SQL   string // its text
	Err   error  // the server's error, a *pgconn.PgError
}

func (e *Error) Error() string { return fmt.Sprintf("statement %d: %v", e.Index+1, e.Err) }

// Unwrap returns the server's error.
func (e *Error) Unwrap() error { return e.Err }

// Each runs stmts in order in one round trip, each without parameters and as
// a query string of its own. Inside a transaction block the first failure
// aborts the transaction and the rest are skipped; outside one each
// statement is its own implicit transaction up to the Sync, so callers run
// it in a transaction. It returns an [*Error] naming the statement that
// failed, or the connection's error.
func Each(ctx context.Context, conn *pgconn.PgConn, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgconn.Batch{}
	for _, s := range stmts {
		b.ExecParams(s, nil, nil, nil, nil)
	}
	mrr := conn.ExecBatch(ctx, b)
	i := 0
	var first error
	for mrr.NextResult() {
		if _, err := mrr.ResultReader().Close(); err != nil && first == nil {
			first = &Error{Index: i, SQL: stmts[i], Err: err}
		}
		i++
	}
	if err := mrr.Close(); err != nil && first == nil {
		// A statement's error arrives here when the server skipped the
		// rest: the failed one is the first without a result.
		if i < len(stmts) {
			return &Error{Index: i, SQL: stmts[i], Err: err}
		}
		return err
	}
	return first
}
