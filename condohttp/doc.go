// Package condohttp is Condo's HTTP edge: the [Server] in front of an
// application, the router that sends each request to a handler by its
// host ([NewRouter], [Middleware]), the forwarded headers it believes
// ([TrustedProxies], [ForwardedHeaders]), the pages it answers with
// ([Page]), the status it maps Condo's errors to ([ErrorStatusCode]) and
// its Prometheus [Metrics].
//
// # Dependencies
//
// The edge depends on tenancy (package condo: the [condo.Resolver] that
// maps a host to a tenant, [condo.WithTenant], the sentinel errors), never
// the reverse: a program that only creates tenants, migrates them or runs
// tenant transactions does not link net/http's server or Prometheus. The
// edge uses only the resolver's public API: [condo.Resolver.Resolve] and
// [condo.Resolver.ResolveSlug] for lookups, [condo.Resolver.Stats] and
// [condo.Resolver.Listening] for metrics, [condo.Resolver.TenantHeader]
// and [condo.Resolver.PathPrefix] for routing.
//
// # Routing
//
// [NewRouter] resolves the Host header and calls one of the application's
// [Handlers]: Public for the base domains, Tenant (with the tenant in the
// request context, [condo.TenantFromContext]) for an active tenant,
// Reserved by label ("admin"), and default pages for the rest (404 for a
// host that is nobody's, 403 for a suspended tenant, 400 for a malformed
// host, 503 when the lookup failed). [Middleware] is the same for an
// application that serves tenants only, in the func(http.Handler)
// http.Handler shape that chi's Use and most routers take:
//
//	mux.Handle("/", condohttp.Middleware(res)(tenantApp))
//
// # The server
//
// [Server] runs the HTTP and HTTPS listeners with timeouts, header limits,
// HTTP/2, graceful shutdown, security headers and HSTS (never for
// localhost, *.localhost or IP addresses), request ids, an access log
// (failed responses at Warn, and logged even with the access log off, one
// line a second with their count), /healthz and /readyz, and [Metrics]. Forwarding headers are believed
// only from [TrustedProxies], one family at a time ([ForwardedHeaders]);
// everyone else's are removed before a handler sees them.
//
// # How the server and the router talk
//
// Each request's information flows one way down and one way up, each
// explicit:
//
//   - Down: the server works out the request id, the client's address,
//     whether it came over HTTPS and whether the peer is a trusted proxy,
//     and puts these facts in the request context before any handler
//     runs. Nothing writes them afterwards; the router reads "trusted" (to
//     believe the resolver's TenantHeader) and the application reads them
//     through [RequestID], [ClientAddr] and [IsHTTPS].
//   - Up: the router reports the route it chose (its kind, the tenant)
//     and the ServeMux pattern that served it through the
//     http.ResponseWriter it was handed, which the server made: the one
//     value a handler passes back up. It finds the server's writer the way
//     http.ResponseController does, through Unwrap methods, so middleware
//     between the two that wraps the writer should have one. The router
//     never stores anything in the context for the server to read back.
//
// Outside a Server the router works the same; it then has no trusted
// peers and nobody to report to.
//
// # Errors
//
// [ErrorStatusCode] maps Condo's errors to a status: a database that is
// away for a moment ([condo.IsTemporary]) is 503, and the server adds
// Retry-After to every 503, so clients and load balancers retry.
package condohttp
