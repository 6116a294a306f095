package condohttp

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/condo-dev/condo"
)

// requestFacts is what the [Server] learned about a request's origin
// before any handler runs. It travels down, in the request context, and
// is never written after: the router and the application only read it
// ([RequestID], [ClientAddr], [IsHTTPS]).
type requestFacts struct {
	id      string
	client  netip.Addr
	https   bool
	trusted bool // the peer is a trusted proxy
}

type factsKey struct{}

func factsFrom(ctx context.Context) *requestFacts {
	f, _ := ctx.Value(factsKey{}).(*requestFacts)
	return f
}

// RequestID returns the request's id: the X-Request-Id a trusted proxy
// sent, or one made by the [Server]. It is "" outside a Server.
func RequestID(ctx context.Context) string {
	if f := factsFrom(ctx); f != nil {
		return f.id
	}
	return ""
}

// ClientAddr returns the client's address as the [Server] worked it out:
// the peer, or the client named by a trusted proxy. Invalid outside a
// Server.
func ClientAddr(ctx context.Context) netip.Addr {
	if f := factsFrom(ctx); f != nil {
		return f.client
	}
	return netip.Addr{}
}

// IsHTTPS reports whether the client reached us over HTTPS: directly, or
// through a trusted proxy that said so.
func IsHTTPS(r *http.Request) bool {
	if f := factsFrom(r.Context()); f != nil {
		return f.https
	}
	return r.TLS != nil
}

// routeRecorder is how a router reports its decision back to the [Server]
// it runs under: through the http.ResponseWriter it was handed, the one
// value an http.Handler passes back up. The server's writer implements it;
// the router finds it with [recorderOf].
type routeRecorder interface {
	recordRoute(condo.Route)
	recordPattern(pattern string)
}

// recorderOf finds the server's recorder in w, unwrapping writers that
// other middleware put around it (the convention http.ResponseController
// follows). It returns nil outside a Server, or under a wrapper without an
// Unwrap method: the request is then served the same, and only logged and
// measured without its route.
func recorderOf(w http.ResponseWriter) routeRecorder {
	for {
		switch x := w.(type) {
		case routeRecorder:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// responseWriter is the Server's per-request state: the facts it passes
// down (pointed to from the context), the route the router reports back
// up, and the status and size of the response, for the access log and
// metrics. It wraps the connection's writer, so a request costs one
// allocation for all of it.
type responseWriter struct {
	http.ResponseWriter

	facts requestFacts

	// Reported by the router (routeRecorder).
	route   condo.RouteKind
	routed  bool
	tenant  string // slug
	pattern string // the matched ServeMux pattern, if any

	status int
	bytes  int64

	retryAfter []string // for 503 responses that have none
}

func (w *responseWriter) recordRoute(rt condo.Route) {
	w.route, w.routed = rt.Kind, true
	if rt.Tenant != nil {
		w.tenant = rt.Tenant.Slug
	}
}

func (w *responseWriter) recordPattern(p string) { w.pattern = p }

func (w *responseWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && w.retryAfter != nil {
		// Every 503 is temporary here (a database restarting, an exhausted
		// pool, a shutdown): say when to come back, so that clients and
		// proxies retry instead of giving up or hammering.
		if h := w.Header(); h["Retry-After"] == nil {
			h["Retry-After"] = w.retryAfter
		}
	}
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, Hijack, deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is here for handlers that test for http.Flusher directly.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack is here for handlers that test for http.Hijacker directly
// (WebSocket libraries).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
