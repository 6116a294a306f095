package condostack

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condohttp"
)

// Serve serves handlers behind the resolver until ctx is done (wire it to
// SIGTERM and SIGINT with signal.NotifyContext), then shuts down
// gracefully: it stops accepting, lets requests in flight finish (up to
// [ServeConfig].ShutdownTimeout) and returns nil. When it returns, no
// handler runs any more and the database is still open: what the
// handlers buffered can be flushed before [Stack.Close].
//
// It starts the resolver (its LISTEN needs a session: it returns an error
// wrapping [ErrNoDirectURL] behind a transaction pooler without a direct
// URL), the jobs client when jobs are configured (stopped after the
// server) and, with [ServeConfig].Certs, condocert's manager, which answers
// domain-ownership proofs and HTTP-01 challenges on the plain-HTTP
// listener, with [Config].PendingTenants the pending tenants' refill, and
// with [Config].RoleReserve the tenant role reserve's.
// /readyz pings Pool; /metrics is served on MetricsAddr.
func (s *Stack) Serve(ctx context.Context, handlers condohttp.Handlers) error {
	sc := s.cfg.Serve
	if err := s.RequireDirect(); err != nil {
		closeAll(httpListener(s.httpLn), sc.Listeners.HTTP, sc.Listeners.HTTPS, sc.Listeners.Metrics)
		return err
	}
	cfg := &condohttp.ServerConfig{
		Handler:          condohttp.NewRouter(s.Resolver, handlers),
		HTTPAddr:         sc.HTTPAddr,
		HTTPListener:     httpListener(s.httpLn),
		HTTPSAddr:        sc.HTTPSAddr,
		TLSConfig:        sc.TLSConfig,
		CertFile:         sc.CertFile,
		KeyFile:          sc.KeyFile,
		Redirect:         sc.Redirect,
		H2C:              sc.H2C,
		TrustedProxies:   sc.TrustedProxies,
		ForwardedHeaders: sc.ForwardedHeaders,
		Resolver:         s.Resolver,
		ShutdownTimeout:  sc.ShutdownTimeout,
		HSTSMaxAge:       sc.HSTSMaxAge,
		Ready:            s.Pool.Ping,
		Metrics:          condohttp.NewMetrics(nil),
		MetricsAddr:      sc.MetricsAddr,
		DisableAccessLog: sc.DisableAccessLog,
		Logger:           s.Logger,
	}
	// The server owns the socket from here on (it closes it).
	s.httpLn = nil
	if sc.Certs != nil {
		m, err := s.startCerts(ctx)
		if err != nil {
			closeAll(cfg.HTTPListener, sc.Listeners.HTTP, sc.Listeners.HTTPS, sc.Listeners.Metrics)
			return fmt.Errorf("https: %w", err)
		}
		defer func() { _ = m.Stop(context.WithoutCancel(ctx)) }()
		cfg.TLSConfig = m.TLSConfig()
		cfg.HTTPHandler = func(next http.Handler) http.Handler {
			return condocert.VerifyHandler(s.Registry, m.HTTPChallengeHandler(next))
		}
	}
	srv, err := condohttp.NewServer(cfg)
	if err != nil {
		closeAll(cfg.HTTPListener, sc.Listeners.HTTP, sc.Listeners.HTTPS, sc.Listeners.Metrics)
		return err
	}
	if err := s.Resolver.Start(ctx); err != nil {
		closeAll(cfg.HTTPListener, sc.Listeners.HTTP, sc.Listeners.HTTPS, sc.Listeners.Metrics)
		return err
	}
	defer func() { _ = s.Resolver.Stop(context.WithoutCancel(ctx)) }()
	if s.Jobs != nil {
		// Not ctx: its end would cancel the jobs being worked at once;
		// the deferred Stop lets them finish first.
		if err := s.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
			closeAll(cfg.HTTPListener, sc.Listeners.HTTP, sc.Listeners.HTTPS, sc.Listeners.Metrics)
			return fmt.Errorf("jobs: %w", err)
		}
		// After the server (deferred calls run last first): requests in
		// flight may still enqueue. Jobs being worked get the shutdown
		// timeout to finish; one cut short is worked again later.
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sc.ShutdownTimeout)
			defer cancel()
			if err := s.Jobs.Stop(sctx); err != nil {
				s.Logger.LogAttrs(sctx, slog.LevelWarn, "jobs stop", slog.String("error", err.Error()))
			}
		}()
	}
	if n := s.cfg.PendingTenants; n > 0 {
		// Stopped after the server: a signup in flight may still claim.
		pending := condo.NewPendingPool(s.Registry, &condo.PendingPoolConfig{Size: n, Logger: s.Logger})
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = pending.Run(pctx) // it logs its own failures and returns nil
		}()
		defer func() { cancel(); <-done }()
	}
	if n := s.cfg.RoleReserve; n > 0 {
		reserve := condo.NewRoleReserve(s.Registry, &condo.RoleReserveConfig{Size: n, Logger: s.Logger})
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// It logs its own passing failures; what it returns (Citus)
			// stays so while serving: logged once, serving goes on.
			if err := reserve.Run(rctx); err != nil {
				s.Logger.LogAttrs(rctx, slog.LevelWarn, "tenant role reserve off", slog.String("error", err.Error()))
			}
		}()
		defer func() { cancel(); <-done }()
	}
	if grace := cmp.Or(s.cfg.MoveGrace, condo.DefaultMoveGrace); grace >= 0 {
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.cleanupMoves(mctx, grace)
		}()
		defer func() { cancel(); <-done }()
	}
	if sc.Listeners.HTTP != nil || sc.Listeners.HTTPS != nil {
		return srv.Serve(ctx, sc.Listeners)
	}
	return srv.ListenAndServe(ctx)
}

// cleanupMoves drops the old copies of tier moves once their grace period
// is over, checking at a tenth of it (at least every 10 s, at most every
// 10 min), until ctx ends. The registry's row locks make each copy one
// instance's to drop.
func (s *Stack) cleanupMoves(ctx context.Context, grace time.Duration) {
	every := min(max(grace/10, 10*time.Second), 10*time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := s.Registry.CleanupMoves(ctx, grace); err != nil && ctx.Err() == nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "tier move cleanup", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// startCerts starts condocert's manager over Pool with [ServeConfig].Certs:
// on-demand certificates only for the registry's active, verified tenant
// domains unless the config says otherwise.
func (s *Stack) startCerts(ctx context.Context) (*condocert.Manager, error) {
	cc := *s.cfg.Serve.Certs
	if cc.OnDemand != nil && cc.OnDemand.AllowFunc == nil {
		od := *cc.OnDemand
		od.AllowFunc = condocert.RegistryAllow(s.Registry)
		cc.OnDemand = &od
	}
	if cc.Logger == nil {
		cc.Logger = s.Logger
	}
	m, err := condocert.New(s.Pool, &cc)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// closeAll closes the listeners a failed Serve was given, so that no
// socket outlives it.
func closeAll(ls ...net.Listener) {
	for _, l := range ls {
		if l != nil {
			_ = l.Close()
		}
	}
}
