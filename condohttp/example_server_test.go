package condohttp_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomigrate"
)

// ExampleServer wires a complete edge by hand: a resolver for the base
// domain, the public site and the tenant app split by host, and a server
// that shuts down gracefully on SIGTERM or SIGINT. (It needs a database,
// so it is compiled but not run.)
func ExampleServer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	m, err := condomigrate.New(pool, nil)
	if err != nil {
		panic(err)
	}
	reg := condo.NewRegistry(pool, m, nil)

	res, err := condo.NewResolver(reg, &condo.ResolverConfig{BaseDomains: []string{"example.com"}})
	if err != nil {
		panic(err)
	}
	if err := res.Start(ctx); err != nil { // LISTEN for registry changes
		panic(err)
	}
	defer res.Stop(context.Background())

	tenantApp := http.NewServeMux()
	tenantApp.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		t, _ := condo.TenantFromContext(r.Context())
		fmt.Fprintf(w, "Welcome to %s\n", t.Name)
	})
	trusted, _ := condohttp.ParseTrustedProxies([]string{"loopback"})
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{
		Handler: condohttp.NewRouter(res, condohttp.Handlers{
			Public: http.FileServer(http.Dir("public")),
			Tenant: tenantApp,
		}),
		HTTPAddr:       ":8080",
		TrustedProxies: trusted,
		Resolver:       res,
		Ready:          pool.Ping,
		Metrics:        condohttp.NewMetrics(nil),
		MetricsAddr:    "127.0.0.1:9090",
	})
	if err != nil {
		panic(err)
	}
	if err := srv.ListenAndServe(ctx); err != nil {
		panic(err)
	}
}
