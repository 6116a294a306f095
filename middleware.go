package condo

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
)

// Middleware returns a handler that resolves each request's host and calls
// next with the tenant in the request context ([TenantFromContext]) for
// active tenants. Every other host gets a page and never reaches next: 404
// for unknown and deleted tenants, reserved labels, public hosts and
// anything else that is not a tenant, 403 for a suspended tenant, 400 for a
// host that is not a valid name. Use [Resolver.Router] to serve the public
// site and reserved hosts too.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return r.Router(Handlers{Tenant: next})
}

// requestInfo is what the edge learned about one request, shared (by
// pointer in the request context) between the server's outer layer, which
// logs and measures, and the router, which fills in the route. It is also
// the response writer wrapper, so a request costs one allocation for both.
type requestInfo struct {
	http.ResponseWriter

	id      string
	client  netip.Addr
	https   bool
	trusted bool

	route   RouteKind
	routed  bool
	label   string // reserved label
	tenant  string // slug
	pattern string // the matched ServeMux pattern, if any

	status int
	bytes  int64

	retryAfter []string // for 503 responses that have none
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(infoKey{}).(*requestInfo)
	return i
}

// RequestID returns the request's id: the X-Request-Id a trusted proxy
// sent, or one made by the [Server]. It is "" outside a Server.
func RequestID(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.id
	}
	return ""
}

// ClientAddr returns the client's address as the [Server] worked it out:
// the peer, or the client named by a trusted proxy. Invalid outside a
// Server.
func ClientAddr(ctx context.Context) netip.Addr {
	if i := infoFrom(ctx); i != nil {
		return i.client
	}
	return netip.Addr{}
}

// IsHTTPS reports whether the client reached us over HTTPS: directly, or
// through a trusted proxy that said so.
func IsHTTPS(r *http.Request) bool {
	if i := infoFrom(r.Context()); i != nil {
		return i.https
	}
	return r.TLS != nil
}

func (i *requestInfo) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && i.retryAfter != nil {
		// Every 503 is temporary here (a database restarting, an exhausted
		// pool, a shutdown): say when to come back, so that clients and
		// proxies retry instead of giving up or hammering.
		if h := i.Header(); h["Retry-After"] == nil {
			h["Retry-After"] = i.retryAfter
		}
	}
	if i.status == 0 && code >= 200 {
		i.status = code
	}
	i.ResponseWriter.WriteHeader(code)
}

func (i *requestInfo) Write(b []byte) (int, error) {
	if i.status == 0 {
		i.status = http.StatusOK
	}
	n, err := i.ResponseWriter.Write(b)
	i.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, Hijack, deadlines).
func (i *requestInfo) Unwrap() http.ResponseWriter { return i.ResponseWriter }

// Flush is here for handlers that test for http.Flusher directly.
func (i *requestInfo) Flush() {
	if i.status == 0 {
		i.status = http.StatusOK
	}
	_ = http.NewResponseController(i.ResponseWriter).Flush()
}

// Hijack is here for handlers that test for http.Hijacker directly
// (WebSocket libraries).
func (i *requestInfo) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if i.status == 0 {
		i.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(i.ResponseWriter).Hijack()
}
