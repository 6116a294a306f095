package condocli

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condohttp"
)

// ServeConfig configures the serve command: the application's handlers and,
// optionally, where HTTPS certificates come from. A nil *ServeConfig serves
// Condo's default pages only.
type ServeConfig struct {
	// Handlers builds the application's handlers once the database is open:
	// the public site, the tenant app and reserved hosts (see
	// [condohttp.Handlers]).
	Handlers func(ctx context.Context, env *Env) (condohttp.Handlers, error)
	// TLS, when set, supplies HTTPS for the base domains (package condocert
	// does). It is used when --https is given without --cert-file.
	TLS func(ctx context.Context, env *Env, p TLSParams) (*TLSResult, error)
	// Stopped, when set, runs once the server has stopped and every request
	// in flight has finished, before the database is closed: the place to
	// flush what the handlers buffered.
	Stopped func(ctx context.Context)
}

// TLSParams is what [ServeConfig].TLS is told.
type TLSParams struct {
	// BaseDomains are the normalised base domains the server answers for.
	BaseDomains []string
}

// TLSResult is what [ServeConfig].TLS provides.
type TLSResult struct {
	// Config serves HTTPS.
	Config *tls.Config
	// HTTPHandler, when set, wraps the plain-HTTP handler (ACME HTTP-01).
	HTTPHandler func(http.Handler) http.Handler
	// Stop, when set, runs after the server stopped.
	Stop func(ctx context.Context) error
}

type serveFlags struct {
	httpAddr, httpsAddr, metricsAddr string
	certFile, keyFile                string
	baseDomains, trustedProxies      []string
	pathPrefix, tenantHeader         string
	forwardedHeaders                 string
	redirect                         string
	h2c, noAccessLog                 bool
	shutdownTimeout                  time.Duration
	dbConns, tenantPools             int
	runtimeURL                       string
	statementTimeout, acquireTimeout time.Duration
	dbWait                           time.Duration
	cert                             *certFlags
}

// defaultDBConns is serve's pool size; dbConnsEnv sets another (doctor
// reads both to count the connections of a deployment).
const (
	defaultDBConns = 20
	dbConnsEnv     = "CONDO_DB_CONNS"
)

// envInt is an integer environment variable, 0 when unset or not a number
// (serve reports one that is not a number).
func envInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func newServeCmd(a *app) *cobra.Command {
	f := serveFlags{cert: &certFlags{}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP(S) server",
		Long: `Serve the application: every subdomain of a base domain is a tenant, the
base domain itself and www are the public site, tenants' verified custom
domains go to their tenant, and anything else gets 404.

Every flag has an environment variable (shown in brackets) for containers.
The server stops gracefully on SIGTERM or SIGINT: it stops accepting, lets
requests in flight finish (up to --shutdown-timeout) and exits 0.

Behind a reverse proxy, pass its address with --trusted-proxy so that its
X-Forwarded-* headers are believed (see "proxy-config"; --forwarded-headers
chooses RFC 7239 Forwarded instead); without it they are ignored. Without a proxy, give --https and the server listens on both ports
and redirects HTTP to HTTPS.

When the database cannot be reached at start, serve retries with back-off
(logging each try) for up to --db-wait, answering /readyz with 503 on the
HTTP port meanwhile. While serving, a database that goes away makes
requests fail fast with 503 and Retry-After (and /readyz 503) until it is
back; a tenant request waits at most --db-acquire-timeout for a connection
and a tenant statement runs at most --statement-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd, f)
		},
	}
	env := func(name, def string) string { return cmp.Or(a.cfg.Getenv(name), def) }
	list := func(name string, def ...string) []string {
		if v := a.cfg.Getenv(name); v != "" {
			return strings.Split(v, ",")
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(a.cfg.Getenv(name)); err == nil {
			return d
		}
		return def
	}
	fl := cmd.Flags()
	fl.StringVar(&f.httpAddr, "http", env("CONDO_HTTP_ADDR", ":8080"), "plain-HTTP listen address [CONDO_HTTP_ADDR]")
	fl.StringVar(&f.httpsAddr, "https", env("CONDO_HTTPS_ADDR", ""), "HTTPS listen address, e.g. :443 (empty: no HTTPS) [CONDO_HTTPS_ADDR]")
	fl.StringVar(&f.certFile, "cert-file", env("CONDO_CERT_FILE", ""), "PEM certificate for HTTPS, e.g. a wildcard for the base domain [CONDO_CERT_FILE]")
	fl.StringVar(&f.keyFile, "key-file", env("CONDO_KEY_FILE", ""), "PEM private key of --cert-file [CONDO_KEY_FILE]")
	fl.StringSliceVar(&f.baseDomains, "base-domain", list("CONDO_BASE_DOMAINS", "localhost"), "base domain: slug.<base> is a tenant (repeatable) [CONDO_BASE_DOMAINS, comma-separated]")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxy", list("CONDO_TRUSTED_PROXIES"), `networks whose X-Forwarded-*/Forwarded headers are believed: CIDRs, addresses, "loopback", "private" [CONDO_TRUSTED_PROXIES]`)
	fl.StringVar(&f.forwardedHeaders, "forwarded-headers", env("CONDO_FORWARDED_HEADERS", "x-forwarded"), `the one header family believed from --trusted-proxy: "x-forwarded" (X-Forwarded-For/-Host/-Proto) or "forwarded" (RFC 7239); the other is removed [CONDO_FORWARDED_HEADERS]`)
	fl.StringVar(&f.metricsAddr, "metrics", env("CONDO_METRICS_ADDR", ""), "listen address of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9090 [CONDO_METRICS_ADDR]")
	fl.StringVar(&f.pathPrefix, "path-prefix", env("CONDO_PATH_PREFIX", ""), `also serve tenants at /<prefix>/<slug>/ on the public host, e.g. "/t/" (for set-ups without wildcard DNS) [CONDO_PATH_PREFIX]`)
	fl.StringVar(&f.tenantHeader, "tenant-header", env("CONDO_TENANT_HEADER", ""), "header naming the tenant slug, believed from trusted proxies only [CONDO_TENANT_HEADER]")
	fl.StringVar(&f.redirect, "redirect", env("CONDO_REDIRECT", "auto"), "redirect HTTP to HTTPS: auto (when --https is set), always (behind a TLS proxy), never [CONDO_REDIRECT]")
	fl.BoolVar(&f.h2c, "h2c", a.cfg.Getenv("CONDO_H2C") != "", "also accept HTTP/2 without TLS (from a proxy) [CONDO_H2C]")
	fl.BoolVar(&f.noAccessLog, "no-access-log", a.cfg.Getenv("CONDO_NO_ACCESS_LOG") != "", "do not log every request [CONDO_NO_ACCESS_LOG]")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", dur("CONDO_SHUTDOWN_TIMEOUT", 30*time.Second), "how long a shutdown waits for requests in flight [CONDO_SHUTDOWN_TIMEOUT]")
	fl.IntVar(&f.dbConns, "db-conns", cmp.Or(envInt(a.cfg.Getenv(dbConnsEnv)), defaultDBConns), "database connections in the pool [CONDO_DB_CONNS]")
	fl.IntVar(&f.tenantPools, "tenant-pools", envInt(a.cfg.Getenv("CONDO_TENANT_POOLS")), "split --db-conns more connections into this many tenant-affine pools for the app's tenant reads (condo.TenantPools; for thousands of tenants), 0: off [CONDO_TENANT_POOLS]")
	fl.StringVar(&f.runtimeURL, "runtime-database-url", env("CONDO_RUNTIME_DATABASE_URL", ""), "split roles: run tenant transactions, and the app's own shared-table queries (as ROLE_shared, with the app's declared grants), as this login role, which owns nothing (see runtime-grant); DATABASE_URL stays the owner, for signup, tenant changes and the rest. Empty: one role for everything, the weaker mode [CONDO_RUNTIME_DATABASE_URL]")
	fl.DurationVar(&f.statementTimeout, "statement-timeout", dur("CONDO_STATEMENT_TIMEOUT", 30*time.Second), "cancel a tenant query running longer than this, answered 503 (set per transaction, so it works behind a pooler); 0: the server's setting [CONDO_STATEMENT_TIMEOUT]")
	fl.DurationVar(&f.acquireTimeout, "db-acquire-timeout", dur("CONDO_DB_ACQUIRE_TIMEOUT", 3*time.Second), "how long a tenant request waits for a free database connection before it is answered 503; 0: as long as the client waits [CONDO_DB_ACQUIRE_TIMEOUT]")
	fl.DurationVar(&f.dbWait, "db-wait", dur("CONDO_DB_WAIT", 5*time.Minute), "at start, how long to keep retrying a database that cannot be reached (answering /readyz 503 meanwhile); 0: until stopped [CONDO_DB_WAIT]")
	f.cert.registerACME(fl)
	return cmd
}

func (a *app) serve(cmd *cobra.Command, f serveFlags) error {
	ctx := cmd.Context()
	var redirect condohttp.RedirectMode
	switch f.redirect {
	case "auto", "":
	case "always":
		redirect = condohttp.RedirectAlways
	case "never":
		redirect = condohttp.RedirectNever
	default:
		return fmt.Errorf("--redirect: want auto, always or never, got %q", f.redirect)
	}
	trusted, err := condohttp.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	fwd, err := condohttp.ParseForwardedHeaders(f.forwardedHeaders)
	if err != nil {
		return fmt.Errorf("--forwarded-headers: %w", err)
	}
	if v := a.cfg.Getenv("CONDO_TENANT_POOLS"); v != "" && !cmd.Flags().Changed("tenant-pools") {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("CONDO_TENANT_POOLS: want a number, got %q", v)
		}
	}
	if v := a.cfg.Getenv(dbConnsEnv); v != "" && !cmd.Flags().Changed("db-conns") {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return fmt.Errorf("%s: want a number of connections, got %q", dbConnsEnv, v)
		}
	}
	if f.tenantPools < 0 || f.tenantPools > f.dbConns {
		return fmt.Errorf("--tenant-pools: want 0 (off) to --db-conns (%d), got %d", f.dbConns, f.tenantPools)
	}
	// The pool is sized for serving rather than for migrations.
	a.parallel = max(a.parallel, f.dbConns-2)
	// A database that is not there yet (starting alongside, failing over)
	// is waited for, with /readyz answering 503 on the HTTP port meanwhile.
	var httpLn *handoff
	waitDone := make(chan struct{})
	// Before opening: opening detects a pooler, which needs the database.
	err = waitForDatabase(ctx, a.pingDatabase, a.cfg.Logger, f.dbWait, func() error {
		if f.httpAddr == "" {
			return nil
		}
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", f.httpAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", f.httpAddr, err)
		}
		httpLn = newHandoff(ln)
		starting := &http.Server{Handler: startingHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = starting.Serve(httpLn.listener(false)) }()
		// Stopped once the wait ends; the socket stays open for the server.
		go func() {
			<-waitDone
			_ = starting.Shutdown(context.WithoutCancel(ctx))
		}()
		return nil
	})
	close(waitDone)
	if httpLn != nil {
		// Closed by the server normally; this covers a failure before.
		defer httpLn.close(nil)
	}
	if err != nil {
		return err
	}
	env, err := a.open(ctx)
	if err != nil {
		return err
	}
	// The resolver's LISTEN needs a session.
	if err := env.RequireDirect(); err != nil {
		return err
	}
	logger := env.Logger
	tenantCfg := env.Pool.Config()
	if f.runtimeURL != "" {
		rt, err := a.useRuntime(ctx, env, f.runtimeURL, int32(f.dbConns))
		if err != nil {
			return err
		}
		// Closed after the handlers' Stopped hook, which may still read.
		defer rt.Close()
		tenantCfg = rt.Config()
	}
	env.Registry.SetTimeouts(f.statementTimeout, f.acquireTimeout)
	res, err := condo.NewResolver(env.Registry, &condo.ResolverConfig{
		BaseDomains:      f.baseDomains,
		PathPrefix:       f.pathPrefix,
		TenantHeader:     f.tenantHeader,
		ListenConnConfig: env.ListenConnConfig(),
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	if f.tenantPools > 0 {
		pcfg := tenantCfg
		pcfg.MaxConns, pcfg.MinConns = int32(f.dbConns), 0
		tp, err := condo.NewTenantPools(ctx, pcfg, f.tenantPools)
		if err != nil {
			return err
		}
		// Closed after the handlers' Stopped hook, which may still read.
		defer func() { env.TenantPools = nil; tp.Close() }()
		tp.SetTimeouts(f.statementTimeout, f.acquireTimeout)
		env.TenantPools = tp
	}
	var handlers condohttp.Handlers
	sc := a.cfg.Serve
	if sc != nil && sc.Handlers != nil {
		if handlers, err = sc.Handlers(ctx, env); err != nil {
			return err
		}
	}
	cfg := &condohttp.ServerConfig{
		Handler:          condohttp.NewRouter(res, handlers),
		HTTPAddr:         f.httpAddr,
		HTTPListener:     httpListener(httpLn),
		HTTPSAddr:        f.httpsAddr,
		CertFile:         f.certFile,
		KeyFile:          f.keyFile,
		Redirect:         redirect,
		H2C:              f.h2c,
		TrustedProxies:   trusted,
		ForwardedHeaders: fwd,
		Resolver:         res,
		ShutdownTimeout:  f.shutdownTimeout,
		Ready:            env.Pool.Ping,
		Metrics:          condohttp.NewMetrics(nil),
		MetricsAddr:      f.metricsAddr,
		DisableAccessLog: f.noAccessLog,
		Logger:           logger,
	}
	switch {
	case f.httpsAddr == "":
	case f.cert.acme() || len(f.cert.certbot) > 0 || f.certFile != "":
		// Condo's certificate manager: ACME for the base domains and
		// tenants' custom domains, and files reloaded when they change.
		cfg.CertFile, cfg.KeyFile = "", ""
		tr, err := a.certManager(ctx, env, f, res.BaseDomains())
		if err != nil {
			return fmt.Errorf("https: %w", err)
		}
		cfg.TLSConfig, cfg.HTTPHandler = tr.Config, tr.HTTPHandler
		defer func() { _ = tr.Stop(context.WithoutCancel(ctx)) }()
	case sc != nil && sc.TLS != nil:
		tr, err := sc.TLS(ctx, env, TLSParams{BaseDomains: res.BaseDomains()})
		if err != nil {
			return fmt.Errorf("https: %w", err)
		}
		cfg.TLSConfig, cfg.HTTPHandler = tr.Config, tr.HTTPHandler
		if tr.Stop != nil {
			defer func() { _ = tr.Stop(context.WithoutCancel(ctx)) }()
		}
	default:
		return fmt.Errorf("--https needs certificates: --acme-email with --dns-provider, --cert-file and --key-file, or --certbot DOMAIN")
	}
	srv, err := condohttp.NewServer(cfg)
	if err != nil {
		return err
	}
	if err := res.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = res.Stop(context.WithoutCancel(ctx)) }()
	// ctx is cancelled by SIGTERM or SIGINT (see Main): a graceful shutdown,
	// after which serve returns nil.
	err = srv.ListenAndServe(ctx)
	if sc != nil && sc.Stopped != nil {
		sc.Stopped(context.WithoutCancel(ctx))
	}
	return err
}

// certManager starts condocert's manager for serve: the wildcard and apex
// certificates of the base domains over DNS-01 when ACME is configured,
// on-demand certificates for tenants' verified custom domains, and the
// certificate files of --cert-file and --certbot. The plain-HTTP listener
// answers domain-ownership proofs and, when enabled, HTTP-01 challenges.
func (a *app) certManager(ctx context.Context, env *Env, f serveFlags, baseDomains []string) (*TLSResult, error) {
	cf := *f.cert
	cf.certFile, cf.certKeyFile = f.certFile, f.keyFile
	if cf.acme() {
		for _, b := range baseDomains {
			// localhost has no public certificate; dev serves it from its CA.
			if b != "localhost" && !strings.HasSuffix(b, ".localhost") {
				cf.baseDomains = append(cf.baseDomains, b)
			}
		}
	}
	m, err := cf.manager(env, a.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return &TLSResult{
		Config: m.TLSConfig(),
		HTTPHandler: func(next http.Handler) http.Handler {
			return condocert.VerifyHandler(env.Registry, m.HTTPChallengeHandler(next))
		},
		Stop: m.Stop,
	}, nil
}
