package condo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbError marks err with [ErrDatabaseUnavailable] or [ErrStatementTimeout]
// when it is one of the driver errors they stand for, so that callers (and
// [IsTemporary]) can tell a database that is away for a moment (503, try
// again) from a bug (500). The driver's error stays in the chain and in the
// message, for the log. Any other error, or one already marked, is
// returned as it is.
func dbError(err error) error {
	if class := dbErrorClass(err); class != nil {
		return fmt.Errorf("%w: %w", class, err)
	}
	return err
}

// dbErrorClass is the sentinel err should be marked with, nil when none
// (or when it already is).
func dbErrorClass(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrDatabaseUnavailable), errors.Is(err, ErrStatementTimeout):
		return nil
	case isStatementTimeout(err):
		return ErrStatementTimeout
	case isUnavailable(err):
		return ErrDatabaseUnavailable
	}
	return nil
}

// IsTemporary reports whether err says the database is away for a moment
// rather than that the request or the code was wrong: it is (or wraps)
// [ErrDatabaseUnavailable] or [ErrStatementTimeout], or is one of the
// driver errors they stand for, as an application's own queries on the
// pool return them unmarked. Retrying later may succeed, and nothing was
// committed. (Package condohttp answers these errors with 503 and
// Retry-After.) The caller's own cancellation or deadline is not temporary
// by this test.
func IsTemporary(err error) bool {
	return errors.Is(err, ErrDatabaseUnavailable) || errors.Is(err, ErrStatementTimeout) ||
		isUnavailable(err) || isStatementTimeout(err)
}

// isStatementTimeout reports whether PostgreSQL cancelled the statement.
// query_canceled is also what an operator's pg_cancel_backend gives; both
// mean the same to a client: not now, and nothing was committed.
func isStatementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.QueryCanceled
}

// isUnavailable reports whether err says the database cannot be used for
// now rather than that the request was wrong: the server refused the
// connection or dropped it (restart, crash, failover, network), is shutting
// down or starting up, or is out of connection slots.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, // 57P01: fast or smart shutdown, pg_terminate_backend
			pgerrcode.CrashShutdown,              // 57P02: another backend crashed
			pgerrcode.CannotConnectNow,           // 57P03: starting up, shutting down, recovering
			pgerrcode.TooManyConnections,         // 53300
			pgerrcode.InsufficientResources,      // 53000
			pgerrcode.ConfigurationLimitExceeded: // 53400
			return true
		}
		// Class 08: connection exceptions, whether the server or a pooler
		// in front of it reports them.
		return pgerrcode.IsConnectionException(pgErr.Code)
	}
	// Anything else that failed on the way to or from the server. An
	// authentication or unknown-database failure is a *PgError, above. The
	// caller's own deadline or cancellation is not the database's doing
	// (context.DeadlineExceeded is a net.Error, hence this test first).
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// errAcquireTimeout is the cause of an acquire's context expiring.
var errAcquireTimeout = errors.New("acquire timeout")

// acquire takes a connection from pool, waiting at most d for one to come
// free (or to be opened) when d > 0, so that an exhausted pool makes
// requests fail fast with [ErrDatabaseUnavailable] instead of queueing for
// as long as their clients wait. ctx still bounds the wait too.
func acquire(ctx context.Context, pool *pgxpool.Pool, d time.Duration) (*pgxpool.Conn, error) {
	if d <= 0 {
		c, err := pool.Acquire(ctx)
		return c, dbError(err)
	}
	actx, cancel := context.WithTimeoutCause(ctx, d, errAcquireTimeout)
	defer cancel()
	c, err := pool.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(actx), errAcquireTimeout) {
			return nil, fmt.Errorf("%w: no database connection within %s (pool of %d busy or unreachable): %w",
				ErrDatabaseUnavailable, d, pool.Config().MaxConns, err)
		}
		return nil, dbError(err)
	}
	return c, nil
}
