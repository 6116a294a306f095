package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// serveMain is the server under test, run as a child process: the
// benchmark's tenant handler (handler.go) behind condohttp.Server (mode "tenant"), or
// the same query without tenancy behind the same Server (mode "plain", W6),
// or, for the ceiling, the same response without a database behind the
// same Server (mode "static") and from a bare net/http server ("bare").
func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dbURL := fs.String("db", "", "database URL")
	mode := fs.String("mode", "tenant", "tenant or plain")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	conns := fs.Int("db-conns", 16, "pool size")
	accessLog := fs.Bool("access-log", true, "log every request")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address")
	partitions := fs.Int("partitions", 1, "tenant-affine pools: tenants are hashed over this many pools of db-conns/partitions connections")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS on -addr with this certificate (W7); plain HTTP then listens on -http-addr")
	tlsKey := fs.String("tls-key", "", "key of -tls-cert")
	httpAddr := fs.String("http-addr", "127.0.0.1:0", "plain-HTTP listen address when -tls-cert is set")
	pooler := fs.String("pooler", "none", "what sits in front of -db: none or transaction (W8: PgBouncer)")
	directURL := fs.String("direct", "", "direct database URL for the resolver's LISTEN, with -pooler transaction")
	metricsAddr := fs.String("metrics-addr", "", "serve the server's Prometheus metrics on this address (w5scale reads the responses by status from it)")
	secretKey := fs.String("secret-key", "", "hex of the 32-byte key sealing database-tier tenants' passwords (RegistryConfig.SecretKey); tier pools as the README configures them otherwise")
	tierPoolConns := fs.Int("tier-pool-conns", 0, "RegistryConfig.TierPoolConns (0: the default)")
	shardURLs := fs.String("runtime-shard-urls", "", "comma-separated database URLs of runtime login roles, one per shard (issue 15): tenant transactions run on pool id % n, db-conns/n connections each")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // DefaultServeMux has pprof
	}
	cfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*conns)
	cfg.MinConns = int32(*conns)
	pm, err := condo.ParsePoolerMode(*pooler)
	if err != nil {
		return err
	}
	condo.ConfigurePool(cfg, pm)
	var listen *pgx.ConnConfig
	if *directURL != "" {
		if listen, err = pgx.ParseConfig(*directURL); err != nil {
			return err
		}
	}
	// With tenant pools the registry's pool only serves resolver misses.
	regCfg := cfg.Copy()
	if (*partitions > 1 || *shardURLs != "") && *mode == "tenant" {
		regCfg.MaxConns, regCfg.MinConns = 4, 0
	}
	pool, err := pgxpool.NewWithConfig(ctx, regCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: logger})
	if err != nil {
		return err
	}
	rc := &condo.RegistryConfig{Logger: logger, TierPoolConns: int32(*tierPoolConns)}
	if *secretKey != "" {
		if rc.SecretKey, err = hex.DecodeString(*secretKey); err != nil {
			return fmt.Errorf("-secret-key: %w", err)
		}
	}
	reg := condo.NewRegistry(pool, m, rc)
	defer reg.Close()
	res, err := condo.NewResolver(reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, ListenConnConfig: listen, Logger: logger})
	if err != nil {
		return err
	}
	var h http.Handler
	switch *mode {
	case "tenant":
		if err := res.Start(ctx); err != nil {
			return err
		}
		defer res.Stop(context.Background())
		query := queryFunc(reg.QueryTenant)
		if *shardURLs != "" {
			tp, err := shardPools(ctx, strings.Split(*shardURLs, ","), *conns, pm)
			if err != nil {
				return err
			}
			defer tp.Close()
			query = tp.QueryTenant
		} else if *partitions > 1 {
			tp, err := condo.NewTenantPools(ctx, cfg, *partitions)
			if err != nil {
				return err
			}
			defer tp.Close()
			query = tp.QueryTenant
		}
		h = condohttp.NewRouter(res, condohttp.Handlers{Tenant: tenantHandler(query, logger)})
	case "static":
		h = staticHandler()
	case "bare":
		return serveBare(ctx, *addr)
	default:
		h = plainHandler(pool, logger)
	}
	sc := &condohttp.ServerConfig{
		Handler:          h,
		HTTPAddr:         *addr,
		Resolver:         res,
		Ready:            pool.Ping,
		Metrics:          condohttp.NewMetrics(nil),
		MetricsAddr:      *metricsAddr,
		DisableAccessLog: !*accessLog,
		Logger:           logger,
	}
	if *tlsCert != "" {
		sc.HTTPAddr, sc.HTTPSAddr, sc.CertFile, sc.KeyFile = *httpAddr, *addr, *tlsCert, *tlsKey
	}
	srv, err := condohttp.NewServer(sc)
	if err != nil {
		return err
	}
	return srv.ListenAndServe(ctx)
}

// shardPools opens one pool per runtime shard URL, conns/len(urls)
// connections each (at least one), all opened at start as the single
// pool's are.
func shardPools(ctx context.Context, urls []string, conns int, pm condo.PoolerMode) (*condo.TenantPools, error) {
	per := int32(max(1, conns/len(urls)))
	var pools []*pgxpool.Pool
	for _, u := range urls {
		cfg, err := pgxpool.ParseConfig(u)
		if err == nil {
			cfg.MaxConns, cfg.MinConns = per, per
			condo.ConfigurePool(cfg, pm)
			var p *pgxpool.Pool
			if p, err = pgxpool.NewWithConfig(ctx, cfg); err == nil {
				pools = append(pools, p)
				continue
			}
		}
		for _, p := range pools {
			p.Close()
		}
		return nil, err
	}
	return condo.NewTenantPoolsOf(pools...), nil
}
