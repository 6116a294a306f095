package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/examples/hotels/web"
)

// serveMain is the server under test, run as a child process: the
// reference app's tenant handler behind condohttp.Server (mode "tenant"), or
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
	if *partitions > 1 && *mode == "tenant" {
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
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: logger})
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
		wc := &web.Config{Logger: logger}
		if *partitions > 1 {
			tp, err := condo.NewTenantPools(ctx, cfg, *partitions)
			if err != nil {
				return err
			}
			defer tp.Close()
			wc.Pools = tp
		}
		hs := web.Handlers(reg, wc)
		h = condohttp.NewRouter(res, hs)
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

// staticHotels are what a W3 response holds, for the ceiling servers.
func staticHotels() []web.Hotel {
	hotels := make([]web.Hotel, 10)
	for i := range hotels {
		hotels[i] = web.Hotel{ID: int64(i + 1), Name: fmt.Sprintf("t0001 Hotel %d", i+1), City: "Lisbon", Stars: int16(1 + i%5)}
	}
	return hotels
}

// staticHandler is W6 without the database: the same JSON encoding of
// ten hotels per request, behind the same condohttp.Server edge.
func staticHandler() http.Handler {
	hotels := staticHotels()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(hotels)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	})
}

// serveBare is the HTTP ceiling: a bare net/http server writing the same
// response bytes, with no edge, no logging, no encoding and no database.
func serveBare(ctx context.Context, addr string) error {
	b, _ := json.Marshal(staticHotels())
	body := append(b, '\n')
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// plainHandler is W6: GET /hotels/ with the same query and encoding as the
// tenant app, on one schema, without tenant middleware or schema switch.
func plainHandler(pool *pgxpool.Pool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hotels/", func(w http.ResponseWriter, r *http.Request) {
		hotels := make([]web.Hotel, 0, 16)
		var h web.Hotel
		rows, err := pool.Query(r.Context(), "SELECT id, name, city, stars FROM single.hotel ORDER BY id")
		if err == nil {
			_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.Name, &h.City, &h.Stars}, func() error {
				hotels = append(hotels, h)
				return nil
			})
		}
		if err != nil {
			logger.Error("query", "error", err)
			http.Error(w, "Internal Server Error", 500)
			return
		}
		b, _ := json.Marshal(hotels)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	})
	return mux
}

func fsRead(fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}
