package condohttp

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/condo-dev/condo"
)

// Handlers are the handlers a router ([NewRouter]) chooses among by host:
// the idea of django-tenants' PUBLIC_SCHEMA_URLCONF, with reserved hosts
// too. Nil handlers get Condo's default pages.
type Handlers struct {
	// Public serves the base domains and their public labels ("www"): the
	// marketing site, signup. Nil means 404.
	Public http.Handler
	// Tenant serves active tenants; the tenant is in the request context
	// ([condo.TenantFromContext]). Nil means 404.
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

// NewRouter returns the handler that sends each request to one of h by
// its host ([condo.Resolver.Resolve]): 400 for a host that is not a valid
// name, 404 for a host that is nobody's, 503 when the lookup itself
// failed.
//
// When the resolver has a PathPrefix, "/prefix/slug/rest" on a public host
// goes to the Tenant handler as "/rest". When it has a TenantHeader and the
// request came through a trusted proxy (as a [Server] above it worked
// out), the header names the tenant and the host is not used.
//
// Under a [Server], the router reports the route it chose (kind, tenant,
// handler pattern) to the server's access log and [Metrics]; see the
// package documentation.
func NewRouter(res *condo.Resolver, h Handlers) http.Handler {
	if res == nil {
		panic("condohttp: NewRouter needs a resolver")
	}
	if h.NotFound == nil {
		h.NotFound = Page(http.StatusNotFound, "Not found", "There is no site at this address.")
	}
	if h.Suspended == nil {
		h.Suspended = Page(http.StatusForbidden, "Site suspended", "This site is suspended. If it is yours, please contact support.")
	}
	h.Logger = cmp.Or(h.Logger, res.Logger())
	return &router{res: res, h: h,
		header:      res.TenantHeader(),
		prefix:      res.PathPrefix(),
		badHost:     Page(http.StatusBadRequest, "Bad request", "The host name of this request is not valid."),
		unavailable: Page(http.StatusServiceUnavailable, "Unavailable", "This site is temporarily unavailable. Please try again shortly."),
		failLog:     rate.Sometimes{Interval: time.Second},
	}
}

// Middleware returns middleware (the shape chi's Use and most routers
// take) that resolves each request's host and calls next with the tenant
// in the request context ([condo.TenantFromContext]) for active tenants.
// Every other host gets a page and never reaches next: 404 for unknown and
// deleted tenants, reserved labels, public hosts and anything else that is
// not a tenant, 403 for a suspended tenant, 400 for a host that is not a
// valid name. Use [NewRouter] to serve the public site and reserved hosts
// too.
func Middleware(res *condo.Resolver) func(next http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return NewRouter(res, Handlers{Tenant: next})
	}
}

type router struct {
	res                  *condo.Resolver
	h                    Handlers
	header, prefix       string // the resolver's TenantHeader and PathPrefix
	badHost, unavailable http.Handler
	// While the database is away every request fails its lookup: one
	// log line a second, counting the failures since the last one, keeps
	// an outage from flooding the log.
	failLog  rate.Sometimes
	failures atomic.Int64
}

func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	// What the server learned flows down, read-only, in the context; what
	// the router decides flows back up through w (see serve).
	if rt.header != "" {
		if f := factsFrom(ctx); f != nil && f.trusted {
			if slug := req.Header.Get(rt.header); slug != "" {
				route, err := rt.res.ResolveSlug(ctx, slug)
				rt.serve(w, req, route, err)
				return
			}
		}
	}
	route, err := rt.res.Resolve(ctx, req.Host)
	if err == nil && route.Kind == condo.RoutePublic && rt.prefix != "" && strings.HasPrefix(req.URL.Path, rt.prefix) {
		rest := req.URL.Path[len(rt.prefix):]
		slug, tail, found := strings.Cut(rest, "/")
		if slug != "" && !found {
			// "/t/acme" → "/t/acme/", so relative links work.
			target := rt.prefix + slug + "/"
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
	rt.serve(w, req, route, err)
}

func (rt *router) serve(w http.ResponseWriter, req *http.Request, route condo.Route, err error) {
	var h http.Handler
	switch {
	case err != nil:
		var ne *condo.NameError
		switch {
		case errors.As(err, &ne):
			h = rt.badHost
		case errors.Is(err, condo.ErrUnknownHost):
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
	case route.Kind == condo.RoutePublic:
		h = rt.h.Public
	case route.Kind == condo.RouteReserved:
		h = rt.h.Reserved[route.Label]
	case route.Kind == condo.RouteTenant:
		req = req.WithContext(condo.WithTenant(req.Context(), route.Tenant))
		h = rt.h.Tenant
	case route.Kind == condo.RouteSuspended:
		req = req.WithContext(condo.WithTenant(req.Context(), route.Tenant))
		h = rt.h.Suspended
	}
	if h == nil {
		h = rt.h.NotFound
		route.Kind = condo.RouteUnknown
	}
	rec := recorderOf(w)
	if rec != nil {
		// Before the handler runs, so that a panic is logged with its
		// tenant.
		rec.recordRoute(route)
	}
	h.ServeHTTP(w, req)
	if rec != nil {
		rec.recordPattern(req.Pattern) // set in place by an http.ServeMux
	}
}
