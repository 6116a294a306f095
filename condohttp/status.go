package condohttp

import (
	"context"
	"errors"
	"net/http"

	"github.com/condo-dev/condo"
)

// ErrorStatusCode maps an error from Condo to the HTTP status a handler
// should answer with. Users see the status and generic text; the error
// itself belongs in the log.
//
// A database that is away for a moment ([condo.ErrDatabaseUnavailable],
// [condo.ErrStatementTimeout], and the driver's errors they stand for, also
// from an application's own queries on the pool: [condo.IsTemporary]) is
// 503 Service Unavailable, which clients and load balancers retry; so is
// a request's own deadline. Unknown and deleted tenants, hosts and domains
// are 404, a suspended tenant 403, a taken slug or domain 409, a bad name
// ([*condo.NameError]) 400, anything else 500.
//
// It lives with the edge, not with the tenancy it reads, because it is an
// HTTP decision: package condo knows nothing of status codes.
func ErrorStatusCode(err error) int {
	var ne *condo.NameError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &ne):
		return http.StatusBadRequest
	case errors.Is(err, condo.ErrUnknownHost), errors.Is(err, condo.ErrTenantNotFound),
		errors.Is(err, condo.ErrTenantDeleted), errors.Is(err, condo.ErrNoTenant), errors.Is(err, condo.ErrDomainNotFound):
		return http.StatusNotFound
	case errors.Is(err, condo.ErrTenantSuspended):
		return http.StatusForbidden
	case errors.Is(err, condo.ErrTenantExists), errors.Is(err, condo.ErrDomainTaken):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded),
		condo.IsTemporary(err):
		// Temporary: the Server adds Retry-After to every 503.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
