package condohttp_test

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

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
)

// TestErrorStatusCode pins the status of each error class: a database
// that is away for a moment is 503 (marked by condo or straight from the
// driver, as an application's own queries return them), a bug 500, and
// condo's sentinels their 4xx.
func TestErrorStatusCode(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"nil", nil, 200},
		{"admin shutdown", pg(pgerrcode.AdminShutdown), 503},
		{"crash shutdown", pg(pgerrcode.CrashShutdown), 503},
		{"cannot connect now", pg(pgerrcode.CannotConnectNow), 503},
		{"too many connections", pg(pgerrcode.TooManyConnections), 503},
		{"connection failure", pg(pgerrcode.ConnectionFailure), 503},
		{"connection refused", fmt.Errorf("dial: %w", refused), 503},
		{"connection closed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), 503},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), 503},
		{"statement timeout", pg(pgerrcode.QueryCanceled), 503},
		{"marked unavailable", fmt.Errorf("%w: %w", condo.ErrDatabaseUnavailable, pg(pgerrcode.AdminShutdown)), 503},
		{"marked timeout", fmt.Errorf("%w: %w", condo.ErrStatementTimeout, pg(pgerrcode.QueryCanceled)), 503},
		{"undefined table", pg(pgerrcode.UndefinedTable), 500},
		{"unique violation", pg(pgerrcode.UniqueViolation), 500},
		{"bad password", pg(pgerrcode.InvalidPassword), 500},
		{"no such database", pg(pgerrcode.InvalidCatalogName), 500},
		{"application error", errors.New("template: no such field"), 500},
		{"request cancelled", context.Canceled, 500},
		{"request deadline", context.DeadlineExceeded, 503},
		{"bad name", &condo.NameError{Kind: "host", Name: "a_b", Reason: "bad"}, 400},
		{"unknown host", condo.ErrUnknownHost, 404},
		{"tenant not found", fmt.Errorf("get acme: %w", condo.ErrTenantNotFound), 404},
		{"tenant deleted", condo.ErrTenantDeleted, 404},
		{"no tenant", condo.ErrNoTenant, 404},
		{"domain not found", condo.ErrDomainNotFound, 404},
		{"suspended", condo.ErrTenantSuspended, 403},
		{"exists", condo.ErrTenantExists, 409},
		{"domain taken", condo.ErrDomainTaken, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := condohttp.ErrorStatusCode(tc.err); got != tc.status {
				t.Errorf("ErrorStatusCode(%v): got %d, want %d", tc.err, got, tc.status)
			}
		})
	}
}
