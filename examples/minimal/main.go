// Command minimal is Condo inside a plain net/http application, without
// condocli: the stack from one config, both migration lines from an
// embedded FS, tenants created at start and served by Host.
//
//	DATABASE_URL=postgres://… go run ./examples/minimal acme globex
//	curl -H 'Host: acme.localhost' localhost:8080/ -d body=hello
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
)

//go:embed migrations
var migrations embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", ":8080")
	if err == nil {
		err = run(ctx, os.Getenv("DATABASE_URL"), ln, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}

// run opens Condo, migrates, creates the tenants named in slugs (once) and
// serves them on ln, as <slug>.localhost, until ctx ends.
func run(ctx context.Context, url string, ln net.Listener, slugs []string) error {
	shared, _ := fs.Sub(migrations, "migrations/shared")
	tenant, _ := fs.Sub(migrations, "migrations/tenant")
	st, err := condostack.Open(ctx, &condostack.Config{DatabaseURL: url, SharedMigrations: shared, TenantMigrations: tenant})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrator.MigrateShared(ctx, nil); err != nil {
		return err
	}
	if _, err := st.Migrator.MigrateTenants(ctx, st.Registry, nil); err != nil { // those an older run made
		return err
	}
	for _, slug := range slugs {
		_, err := st.Registry.Create(ctx, condo.CreateParams{Slug: slug, Name: slug})
		if err != nil && !errors.Is(err, condo.ErrTenantExists) {
			return err
		}
	}
	if err := st.Resolver.Start(ctx); err != nil {
		return err
	}
	defer st.Resolver.Stop(context.WithoutCancel(ctx))
	// The app's own mux; the middleware puts the tenant in the context.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t, _ := condo.TenantFromContext(r.Context())
		var n int
		err := st.Registry.InTenantTx(r.Context(), func(ctx context.Context, tx pgx.Tx) error {
			if r.Method == http.MethodPost {
				if _, err := tx.Exec(ctx, "INSERT INTO note (body) VALUES ($1)", r.FormValue("body")); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, "SELECT count(*) FROM note").Scan(&n)
		})
		if err != nil {
			http.Error(w, "unavailable", condohttp.ErrorStatusCode(err))
			return
		}
		fmt.Fprintf(w, "%s: %d note(s)\n", t.Slug, n)
	})
	srv := &http.Server{Handler: condohttp.Middleware(st.Resolver)(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.WithoutCancel(ctx)) }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
