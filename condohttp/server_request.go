package condohttp

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/condo-dev/condo"
)

// Draining reports whether a shutdown has started.
func (s *Server) Draining() bool { return s.draining.Load() }

// staticHeader is a response header set on every response. The value
// slices are shared between responses: each has len == cap, so a handler
// that appends to one gets a copy.
type staticHeader struct {
	key   string
	value []string
}

func securityHeaders() []staticHeader {
	return []staticHeader{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"SAMEORIGIN"}},
		{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
	}
}

// ServeHTTP is the edge layer around the application handler (see
// [Server]). It is exported so tests can put a Server behind httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r, e := s.cfg.TrustedProxies.examine(r, s.header, s.cfg.ForwardedHeaders)
	info := &responseWriter{ResponseWriter: w, retryAfter: s.retryAfter,
		facts: requestFacts{client: e.client, https: e.https, trusted: e.trusted}}
	if id := r.Header.Get("X-Request-Id"); e.trusted && validRequestID(id) {
		info.facts.id = id
	} else {
		info.facts.id = s.newRequestID()
	}
	// The facts go down in the context, read-only (a pointer into info:
	// no allocation of their own); the route comes back through info,
	// the writer the router is handed (routeRecorder).
	ctx := context.WithValue(r.Context(), factsKey{}, &info.facts)
	r = r.WithContext(ctx) // a copy: the host below is ours to change
	if e.host != "" {
		r.Host = e.host
	}
	h := w.Header()
	h["X-Request-Id"] = []string{info.facts.id}
	for _, sh := range s.headers {
		h[sh.key] = sh.value
	}
	if info.facts.https && s.hsts != nil && !devHost(r.Host) {
		h["Strict-Transport-Security"] = s.hsts
	}

	m := s.cfg.Metrics
	if m != nil {
		m.inflight.Inc()
	}
	route := ""
	switch {
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		route = "health"
		s.health(info, r)
	case s.redirect && !info.facts.https:
		route = "redirect"
		s.redirectHTTPS(info, r)
	default:
		s.serveApp(info, r)
		route = "unknown"
		if info.routed {
			route = info.route.String()
		}
	}
	if info.status == 0 {
		info.status = http.StatusOK
	}
	d := time.Since(start)
	if m != nil {
		m.inflight.Dec()
		m.observe(route, info.pattern, r.Method, info.status, info.tenant, d)
	}
	// A 5xx is a failure only while the client still waits: one that went
	// away (a closed connection cancels the context) gets whatever the
	// handler made of its cancelled queries, which no one reads.
	failed := info.status >= 500 && ctx.Err() == nil
	level := slog.LevelInfo
	if failed {
		level = slog.LevelWarn
	}
	if s.cfg.DisableAccessLog {
		if failed {
			s.logFailure(ctx, r, info, route, d)
		}
		return
	}
	if s.logger.Enabled(ctx, level) {
		s.logger.LogAttrs(ctx, level, "http request",
			slog.String("method", r.Method),
			slog.String("host", r.Host),
			slog.String("path", r.URL.Path),
			slog.Int("status", info.status),
			slog.Int64("bytes", info.bytes),
			slog.Duration("duration", d),
			slog.String("route", route),
			slog.String("tenant", info.tenant),
			slog.String("client", info.facts.client.String()),
			slog.String("request_id", info.facts.id),
		)
	}
}

// logFailure logs a failed response when the access log is off: at most
// one line a second, for the first failure since the last line, with how
// many failures it stands for.
func (s *Server) logFailure(ctx context.Context, r *http.Request, info *responseWriter, route string, d time.Duration) {
	s.failures.Add(1)
	s.failLog.Do(func() {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "http request failed",
			slog.String("method", r.Method),
			slog.String("host", r.Host),
			slog.String("path", r.URL.Path),
			slog.Int("status", info.status),
			slog.Duration("duration", d),
			slog.String("route", route),
			slog.String("tenant", info.tenant),
			slog.String("request_id", info.facts.id),
			slog.Int64("failures", s.failures.Swap(0)),
		)
	})
}

func (s *Server) serveApp(info *responseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.Any("panic", p), slog.String("request_id", info.facts.id), slog.String("tenant", info.tenant))
			if info.status == 0 {
				http.Error(info, "Internal Server Error", http.StatusInternalServerError)
			}
			info.status = http.StatusInternalServerError
		}
	}()
	s.handler.ServeHTTP(info, r)
}

func (s *Server) health(w *responseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/readyz" {
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		if s.cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			err := s.cfg.Ready(ctx)
			cancel()
			if err != nil {
				s.logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.String("error", err.Error()))
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// redirectHTTPS sends a plain-HTTP request to the same host and path over
// HTTPS, on the HTTPS listener's port when the client reached us directly
// and it is not 443.
func (s *Server) redirectHTTPS(w *responseWriter, r *http.Request) {
	host, err := condo.NormalizeHostHeader(r.Host)
	if err != nil {
		http.Error(w, "Bad Request: invalid host", http.StatusBadRequest)
		return
	}
	if _, port, err := net.SplitHostPort(s.cfg.HTTPSAddr); err == nil && !w.facts.trusted && port != "443" && port != "" && port != "https" {
		host = net.JoinHostPort(host, port)
	}
	target := "https://" + host + r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusPermanentRedirect)
}

func (s *Server) newRequestID() string {
	var buf [32]byte
	b := append(buf[:0], s.idPrefix...)
	b = strconv.AppendUint(b, s.idSeq.Add(1), 36)
	return string(b)
}

// validRequestID accepts ids a proxy may send: 1 to 128 printable ASCII
// characters without spaces or quotes, so they are safe in logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// devHost reports whether host (a Host header, normalised or not) is a
// development host that must never get HSTS: "localhost" and its
// subdomains, which browsers resolve to the machine itself (HSTS with
// includeSubDomains on one would pin every *.localhost site, on every
// port, to HTTPS), and IP addresses, for which RFC 6797 §8.1 has browsers
// ignore the header anyway. It does not allocate: it runs on every HTTPS
// request.
func devHost(host string) bool {
	if strings.HasPrefix(host, "[") {
		return true // an IPv6 literal
	}
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	const lh = "localhost"
	if len(h) >= len(lh) && strings.EqualFold(h[len(h)-len(lh):], lh) &&
		(len(h) == len(lh) || h[len(h)-len(lh)-1] == '.') {
		return true
	}
	if h == "" || h[len(h)-1] < '0' || h[len(h)-1] > '9' {
		return false // no IPv4 address: skip the parse, which allocates on failure
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}
