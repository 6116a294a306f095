package condo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestDBErrorClasses checks which driver errors count as a database that is
// away for a moment (temporary: 503 at the edge) and which are bugs or bad
// requests (500 or 4xx).
// The end-to-end tests (faults_test.go) meet these errors from a real
// server; this table pins the ones that are hard to provoke on cue.
func TestDBErrorClasses(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name   string
		err    error
		want   error // the sentinel dbError adds, nil for none
		status int
	}{
		{"admin shutdown", pg(pgerrcode.AdminShutdown), ErrDatabaseUnavailable, 503},
		{"crash shutdown", pg(pgerrcode.CrashShutdown), ErrDatabaseUnavailable, 503},
		{"cannot connect now", pg(pgerrcode.CannotConnectNow), ErrDatabaseUnavailable, 503},
		{"too many connections", pg(pgerrcode.TooManyConnections), ErrDatabaseUnavailable, 503},
		{"connection failure", pg(pgerrcode.ConnectionFailure), ErrDatabaseUnavailable, 503},
		{"connection refused", fmt.Errorf("dial: %w", refused), ErrDatabaseUnavailable, 503},
		{"connection closed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), ErrDatabaseUnavailable, 503},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), ErrDatabaseUnavailable, 503},
		{"statement timeout", pg(pgerrcode.QueryCanceled), ErrStatementTimeout, 503},
		{"undefined table", pg(pgerrcode.UndefinedTable), nil, 500},
		{"unique violation", pg(pgerrcode.UniqueViolation), nil, 500},
		{"bad password", pg(pgerrcode.InvalidPassword), nil, 500},
		{"no such database", pg(pgerrcode.InvalidCatalogName), nil, 500},
		{"application error", errors.New("template: no such field"), nil, 500},
		{"request cancelled", context.Canceled, nil, 500},
		{"request deadline", context.DeadlineExceeded, nil, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := dbError(tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("dbError(%v) = %v: lost the driver's error", tc.err, got)
			}
			for _, s := range []error{ErrDatabaseUnavailable, ErrStatementTimeout} {
				if is := errors.Is(got, s); is != (s == tc.want) {
					t.Errorf("dbError(%v) is %v: got %v, want %v", tc.err, s, is, s == tc.want)
				}
			}
			if dbError(got) != got {
				t.Errorf("dbError marks an error twice: %v", dbError(got))
			}
			// The HTTP status of each case is pinned by condohttp's
			// TestErrorStatusCode: 503 exactly for temporary errors and the
			// caller's own deadline.
			wantTemp := tc.status == 503 && tc.err != context.DeadlineExceeded
			if got := IsTemporary(tc.err); got != wantTemp {
				t.Errorf("IsTemporary(%v): got %v, want %v", tc.err, got, wantTemp)
			}
			if got := IsTemporary(got); got != wantTemp {
				t.Errorf("IsTemporary(marked %v): got %v, want %v", tc.err, got, wantTemp)
			}
			if wantTemp && tc.want == nil {
				t.Errorf("a temporary error without a sentinel")
			}
		})
	}
}
