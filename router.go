package condo

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Handlers are the handlers a [Resolver.Router] chooses among by host: the
// idea of django-tenants' PUBLIC_SCHEMA_URLCONF, with reserved hosts too.
// Nil handlers get Condo's default pages.
type Handlers struct {
	// Public serves the base domains and their public labels ("www"): the
	// marketing site, signup. Nil means 404.
	Public http.Handler
	// Tenant serves active tenants; the tenant is in the request context
	// ([TenantFromContext]). Nil means 404.
	Tenant http.Handler
	// Reserved serves reserved labels of the base domains, by label
	// ("admin" for admin.example.com). A reserved label without a handler
	// gets 404.
	Reserved map[string]http.Handler
	// NotFound serves unknown, deleted and reserved-but-unserved hosts.
	// Defaults to a plain 404 page that says nothing about tenants.
	NotFound http.Handler
	// Suspended serves suspended tenants, with the tenant in the request
	// context. Defaults to a 403 Forbidden page: the tenant exists but is
	// not served. (403 rather than 503, so monitoring does not read a
	// business decision as an outage, and rather than 404, so the owner sees
	// that the site is still theirs.)
	Suspended http.Handler
	// Logger logs lookups that failed (the database, not the host).
	// Defaults to the resolver's logger.
	Logger *slog.Logger
}

// Router returns the handler that sends each request to one of h by its
// host ([Resolver.Resolve]): 400 for a host that is not a valid name, 404
// for a host that is nobody's, 503 when the lookup itself failed.
//
// When the resolver has a PathPrefix, "/prefix/slug/rest" on a public host
// goes to the Tenant handler as "/rest". When it has a TenantHeader and the
// request came through a trusted proxy, the header names the tenant and
// the host is not used.
func (r *Resolver) Router(h Handlers) http.Handler {
	if h.NotFound == nil {
		h.NotFound = Page(http.StatusNotFound, "Not found", "There is no site at this address.")
	}
	if h.Suspended == nil {
		h.Suspended = Page(http.StatusForbidden, "Site suspended", "This site is suspended. If it is yours, please contact support.")
	}
	if h.Logger == nil {
		h.Logger = r.logger
	}
	return &router{res: r, h: h,
		badHost:     Page(http.StatusBadRequest, "Bad request", "The host name of this request is not valid."),
		unavailable: Page(http.StatusServiceUnavailable, "Unavailable", "This site is temporarily unavailable. Please try again shortly."),
		failLog:     rate.Sometimes{Interval: time.Second},
	}
}

type router struct {
	res                  *Resolver
	h                    Handlers
	badHost, unavailable http.Handler
	// While the database is away every request fails its lookup: one
	// log line a second, counting the failures since the last one, keeps
	// an outage from flooding the log.
	failLog  rate.Sometimes
	failures atomic.Int64
}

func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	info := infoFrom(ctx)
	if rt.res.header != "" && info != nil && info.trusted {
		if slug := req.Header.Get(rt.res.header); slug != "" {
			route, err := rt.res.ResolveSlug(ctx, slug)
			rt.serve(w, req, info, route, err)
			return
		}
	}
	route, err := rt.res.Resolve(ctx, req.Host)
	if err == nil && route.Kind == RoutePublic && rt.res.prefix != "" && strings.HasPrefix(req.URL.Path, rt.res.prefix) {
		rest := req.URL.Path[len(rt.res.prefix):]
		slug, tail, found := strings.Cut(rest, "/")
		if slug != "" && !found {
			// "/t/acme" → "/t/acme/", so relative links work.
			target := rt.res.prefix + slug + "/"
			if req.URL.RawQuery != "" {
				target += "?" + req.URL.RawQuery
			}
			http.Redirect(w, req, target, http.StatusMovedPermanently)
			return
		}
		route, err = rt.res.ResolveSlug(ctx, slug)
		r2 := req.Clone(ctx)
		r2.URL.Path = "/" + tail
		r2.URL.RawPath = ""
		req = r2
	}
	rt.serve(w, req, info, route, err)
}

func (rt *router) serve(w http.ResponseWriter, req *http.Request, info *requestInfo, route Route, err error) {
	var h http.Handler
	switch {
	case err != nil:
		var ne *NameError
		switch {
		case errors.As(err, &ne):
			h = rt.badHost
		case errors.Is(err, ErrUnknownHost):
			h = rt.h.NotFound
		default:
			rt.failures.Add(1)
			rt.failLog.Do(func() {
				rt.h.Logger.LogAttrs(req.Context(), slog.LevelError, "resolve host",
					slog.String("host", req.Host), slog.String("request_id", RequestID(req.Context())),
					slog.String("error", err.Error()), slog.Int64("failures", rt.failures.Swap(0)))
			})
			h = rt.unavailable
		}
	case route.Kind == RoutePublic:
		h = rt.h.Public
	case route.Kind == RouteReserved:
		h = rt.h.Reserved[route.Label]
	case route.Kind == RouteTenant:
		req = req.WithContext(WithTenant(req.Context(), route.Tenant))
		h = rt.h.Tenant
	case route.Kind == RouteSuspended:
		req = req.WithContext(WithTenant(req.Context(), route.Tenant))
		h = rt.h.Suspended
	}
	if h == nil {
		h = rt.h.NotFound
		route.Kind = RouteUnknown
	}
	if info != nil {
		info.route, info.routed = route.Kind, true
		if route.Kind == RouteReserved {
			info.label = route.Label
		}
		if route.Tenant != nil {
			info.tenant = route.Tenant.Slug
		}
	}
	h.ServeHTTP(w, req)
	if info != nil {
		info.pattern = req.Pattern // set in place by an http.ServeMux
	}
}

// Page returns a handler that answers every request with status and a
// small HTML page (or plain text for clients that do not accept HTML).
func Page(status int, title, message string) http.Handler {
	body := fmt.Sprintf(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>%s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:10vh auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}</style>
</head><body><h1>%s</h1><p>%s</p></body></html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(message))
	htmlBody, text := []byte(body), []byte(title+": "+message+"\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "html") && !strings.Contains(accept, "*/*") {
			hd.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			if r.Method != http.MethodHead {
				_, _ = w.Write(text)
			}
			return
		}
		hd.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(htmlBody)
		}
	})
}

// ErrorStatusCode maps an error from Condo to the HTTP status a handler
// should answer with. Users see the status and generic text; the error
// itself belongs in the log.
//
// A database that is away for a moment ([ErrDatabaseUnavailable],
// [ErrStatementTimeout], and the driver's errors they stand for, also
// from an application's own queries on the pool) is 503 Service
// Unavailable, which clients and load balancers retry.
func ErrorStatusCode(err error) int {
	var ne *NameError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &ne):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownHost), errors.Is(err, ErrTenantNotFound),
		errors.Is(err, ErrTenantDeleted), errors.Is(err, ErrNoTenant), errors.Is(err, ErrDomainNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTenantSuspended):
		return http.StatusForbidden
	case errors.Is(err, ErrTenantExists), errors.Is(err, ErrDomainTaken):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrDatabaseUnavailable), errors.Is(err, ErrStatementTimeout),
		isUnavailable(err), isStatementTimeout(err):
		// Temporary: the Server adds Retry-After to every 503.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
