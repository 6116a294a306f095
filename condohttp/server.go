package condohttp

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/condo-dev/condo"
)

// RedirectMode says when a [Server] redirects plain HTTP to HTTPS.
type RedirectMode uint8

// Redirect modes.
const (
	// RedirectAuto redirects when the server has an HTTPS listener.
	RedirectAuto RedirectMode = iota
	// RedirectAlways redirects every request that did not arrive over HTTPS
	// (directly or, per a trusted proxy, at the proxy): for a server behind
	// a proxy that terminates TLS.
	RedirectAlways
	// RedirectNever serves plain HTTP as it is.
	RedirectNever
)

// ServerConfig configures a [Server]. Zero fields get the defaults given.
type ServerConfig struct {
	// Handler serves the application, usually a [NewRouter]. Required.
	Handler http.Handler
	// HTTPAddr is the plain-HTTP listen address for [Server.ListenAndServe].
	// Defaults to ":8080".
	HTTPAddr string
	// HTTPListener, when set, is the plain-HTTP socket ListenAndServe
	// serves instead of listening on HTTPAddr: one opened before the server
	// could be built (the CLI answers /readyz on it while it waits for the
	// database), or handed over by a service manager.
	HTTPListener net.Listener
	// HTTPSAddr is the HTTPS listen address. Empty means no HTTPS listener.
	HTTPSAddr string
	// TLSConfig serves HTTPS (package condocert makes one with automatic
	// certificates). HTTP/2 is added to its NextProtos.
	TLSConfig *tls.Config
	// CertFile and KeyFile are a PEM certificate (a wildcard for the base
	// domains, say) and its key, used when TLSConfig is nil.
	CertFile, KeyFile string
	// HTTPHandler, when set, wraps the handler of the plain-HTTP listener:
	// for ACME HTTP-01 challenges, which must be answered before the HTTPS
	// redirect.
	HTTPHandler func(http.Handler) http.Handler
	// Redirect says when plain HTTP is redirected to HTTPS (308). Defaults
	// to RedirectAuto.
	Redirect RedirectMode
	// H2C also serves HTTP/2 without TLS (prior knowledge), for a proxy that
	// speaks it to the backend.
	H2C bool
	// TrustedProxies are the peers whose Forwarded and X-Forwarded-* headers
	// are believed. Nil trusts nobody.
	TrustedProxies *TrustedProxies
	// ForwardedHeaders is the one header family believed from trusted
	// proxies; the other is removed from their requests. Defaults to
	// XForwarded.
	ForwardedHeaders ForwardedHeaders
	// Resolver, when set, has its cache figures exported with Metrics and its
	// TenantHeader stripped from requests of untrusted peers.
	Resolver *condo.Resolver

	// ReadHeaderTimeout defaults to 5 s, ReadTimeout to 30 s, WriteTimeout to
	// 60 s, IdleTimeout to 120 s.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes limits request headers (HTTP/1 and HTTP/2). Defaults to
	// 64 KiB.
	MaxHeaderBytes int
	// ShutdownTimeout is how long a shutdown waits for requests in flight
	// before closing their connections. Defaults to 30 s.
	ShutdownTimeout time.Duration
	// HSTSMaxAge is the Strict-Transport-Security max-age sent (with
	// includeSubDomains, which covers every tenant subdomain) on HTTPS
	// responses. Defaults to 365 days; negative sends none. None is ever
	// sent for "localhost", "*.localhost" or an IP address: a browser
	// would pin every development site on the machine (every port of
	// *.localhost) to HTTPS for a year.
	HSTSMaxAge time.Duration

	// RetryAfter is the Retry-After sent with every 503 response that has
	// none (the database unavailable, a pool exhausted, /readyz while not
	// ready). Defaults to 2 s; it is rounded up to whole seconds.
	RetryAfter time.Duration

	// Ready reports whether the server can serve (typically a database
	// ping); /readyz answers 503 while it fails, and from the moment a
	// shutdown starts. Nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics, when set, records every request.
	Metrics *Metrics
	// MetricsAddr, when set, is a separate listener serving /metrics (keep
	// it off the public network).
	MetricsAddr string
	// DisableAccessLog turns the per-request log line off. Failed
	// responses (5xx while the client still waits) are logged anyway, at
	// Warn, one line a second with the number of failures since the last
	// one: a handler that answers 503 without a word would otherwise leave
	// no trace, and an outage must not flood the log.
	DisableAccessLog bool
	// Logger receives the access log (at Info, at Warn for failed
	// responses) and server errors. Defaults to slog.Default().
	Logger *slog.Logger
}

// Server is Condo's HTTP server: plain HTTP and HTTPS listeners in front of
// an application handler, with what a production edge needs (timeouts,
// header limits, HTTP/2, graceful shutdown, HSTS and security headers,
// request ids, an access log, health checks and metrics).
//
// Every request passes through the edge layer, in this order: the peer's
// forwarding headers are believed (trusted proxy) or removed; the request
// gets an id (X-Request-Id); /healthz and /readyz are answered on any host;
// plain HTTP is redirected when it should be; security headers are set;
// the application runs; the request is measured and logged with its tenant
// and id.
type Server struct {
	cfg       ServerConfig
	handler   http.Handler
	tlsConfig *tls.Config
	redirect  bool
	hsts      []string
	headers   []staticHeader
	logger    *slog.Logger
	header    string // resolver's tenant header

	retryAfter []string

	idPrefix string
	idSeq    atomic.Uint64
	draining atomic.Bool

	// Failed responses while the access log is off (see
	// ServerConfig.DisableAccessLog): one line a second, counting.
	failLog  rate.Sometimes
	failures atomic.Int64

	mu      sync.Mutex
	servers []*http.Server
}

// NewServer checks cfg and returns a server. It returns every problem at
// once, joined.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	c := *cfg
	var errs []error
	if c.Handler == nil {
		errs = append(errs, errors.New("server: a Handler is required"))
	}
	c.HTTPAddr = cmp.Or(c.HTTPAddr, ":8080")
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, 5*time.Second)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, 30*time.Second)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, 60*time.Second)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, 120*time.Second)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, 30*time.Second)
	c.MaxHeaderBytes = cmp.Or(c.MaxHeaderBytes, 64<<10)
	c.HSTSMaxAge = cmp.Or(c.HSTSMaxAge, 365*24*time.Hour)
	s := &Server{cfg: c, logger: cmp.Or(c.Logger, slog.Default()), failLog: rate.Sometimes{Interval: time.Second}}
	s.tlsConfig = c.TLSConfig
	if s.tlsConfig == nil && (c.CertFile != "" || c.KeyFile != "") {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("server: load certificate: %w", err))
		} else {
			s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if c.HTTPSAddr != "" && s.tlsConfig == nil && c.CertFile == "" {
		errs = append(errs, errors.New("server: HTTPSAddr needs a TLSConfig or CertFile and KeyFile"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	switch c.Redirect {
	case RedirectAuto:
		s.redirect = c.HTTPSAddr != ""
	case RedirectAlways:
		s.redirect = true
	}
	c.RetryAfter = cmp.Or(c.RetryAfter, 2*time.Second)
	s.retryAfter = []string{strconv.FormatInt(int64((c.RetryAfter+time.Second-1)/time.Second), 10)}
	if c.HSTSMaxAge > 0 {
		s.hsts = []string{"max-age=" + strconv.FormatInt(int64(c.HSTSMaxAge/time.Second), 10) + "; includeSubDomains"}
	}
	if c.Resolver != nil {
		s.header = c.Resolver.TenantHeader()
		if c.Metrics != nil {
			c.Metrics.AddResolver(c.Resolver)
		}
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	s.idPrefix = strings.ToLower(base32.StdEncoding.EncodeToString(b[:])) + "-"
	s.handler = c.Handler
	s.headers = securityHeaders()
	return s, nil
}

// Listeners are the sockets [Server.Serve] serves. Nil ones are not served.
type Listeners struct {
	HTTP, HTTPS, Metrics net.Listener
}

// ListenAndServe opens the configured listeners and serves until ctx is
// done (wire it to SIGTERM and SIGINT with signal.NotifyContext), then
// shuts down gracefully. See [Server.Serve].
func (s *Server) ListenAndServe(ctx context.Context) error {
	var ls Listeners
	var lc net.ListenConfig
	closeAll := func() {
		for _, l := range []net.Listener{ls.HTTP, ls.HTTPS, ls.Metrics} {
			if l != nil {
				_ = l.Close()
			}
		}
	}
	for _, x := range []struct {
		addr string
		ln   *net.Listener
	}{{s.cfg.HTTPAddr, &ls.HTTP}, {s.cfg.HTTPSAddr, &ls.HTTPS}, {s.cfg.MetricsAddr, &ls.Metrics}} {
		if x.ln == &ls.HTTP && s.cfg.HTTPListener != nil {
			ls.HTTP = s.cfg.HTTPListener
			continue
		}
		if x.addr == "" {
			continue
		}
		l, err := lc.Listen(ctx, "tcp", x.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen on %s: %w", x.addr, err)
		}
		*x.ln = l
	}
	return s.Serve(ctx, ls)
}

// Serve serves the listeners until ctx is done or one of them fails. Then
// it shuts down: /readyz starts answering 503, the listeners close (new
// connections are refused), idle connections close, and requests in flight
// run to completion for up to ShutdownTimeout, after which their
// connections are closed. It returns nil after a shutdown that ctx asked
// for.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	type job struct {
		srv   *http.Server
		ln    net.Listener
		tls   bool
		label string
	}
	var jobs []job
	if ls.HTTP != nil {
		var h http.Handler = s
		if s.cfg.HTTPHandler != nil {
			h = s.cfg.HTTPHandler(h)
		}
		jobs = append(jobs, job{s.httpServer(h, nil), ls.HTTP, false, "http"})
	}
	if ls.HTTPS != nil {
		if s.tlsConfig == nil {
			return errors.New("serve HTTPS: no TLS configuration")
		}
		jobs = append(jobs, job{s.httpServer(s, s.tlsConfig.Clone()), ls.HTTPS, true, "https"})
	}
	if ls.Metrics != nil && s.cfg.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.cfg.Metrics.Handler())
		jobs = append(jobs, job{s.httpServer(mux, nil), ls.Metrics, false, "metrics"})
	}
	if len(jobs) == 0 {
		return errors.New("serve: no listener")
	}
	s.mu.Lock()
	for _, j := range jobs {
		s.servers = append(s.servers, j.srv)
	}
	s.mu.Unlock()

	errc := make(chan error, len(jobs))
	for _, j := range jobs {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "listening", slog.String("listener", j.label), slog.String("addr", j.ln.Addr().String()))
		go func() {
			var err error
			if j.tls {
				err = j.srv.ServeTLS(j.ln, "", "")
			} else {
				err = j.srv.Serve(j.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("serve %s on %s: %w", j.label, j.ln.Addr(), err)
			}
			errc <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	s.draining.Store(true)
	s.logger.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if err := j.srv.Shutdown(sctx); err != nil {
				s.logger.LogAttrs(ctx, slog.LevelWarn, "shutdown timed out; closing connections",
					slog.String("listener", j.label))
				_ = j.srv.Close()
			}
		})
	}
	wg.Wait()
	return first
}

func (s *Server) httpServer(h http.Handler, tc *tls.Config) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(s.cfg.H2C)
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		Protocols:         &p,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		// HTTP/2 header lists obey MaxHeaderBytes too.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 250},
		// Handshake errors from scanners and timeouts are noise at Warn.
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
}
