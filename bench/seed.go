package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// Seeding: the databases W3 and W5 read, made through the registry (the
// path the CLI and the signup page use) and kept between runs.

// seed creates database name (owned by a login role of the same name) with
// n tenants t0001…, each with 10 hotels × 3 rooms whose names contain the
// slug, plus a schema "single" with the same tables and 10 hotels for W6.
// A database seeded before is reused.
func seed(ctx context.Context, admin string, cl *pgcluster.Cluster, name string, n int) (string, error) {
	return seedTiered(ctx, admin, cl, name, n, nil)
}

// tierSeed says which seeded tenants live in the database tier (every
// every-th: t0010, t0020, … for 10%) and the key sealing their passwords.
type tierSeed struct {
	every int
	key   []byte
}

// seedTiered is seed, with ts (when set) putting some tenants in the
// database tier; its owner gets CREATEDB for them.
func seedTiered(ctx context.Context, admin string, cl *pgcluster.Cluster, name string, n int, ts *tierSeed) (string, error) {
	url := cl.URL(name, name)
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer ac.Close(context.Background())
	var exists bool
	if err := ac.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		pool, err := pgxpool.New(ctx, url)
		if err == nil {
			var seeded int
			err = pool.QueryRow(ctx, "SELECT n FROM public.bench_seeded_v2").Scan(&seeded)
			if err == nil && seeded == n {
				// Condo's shared tables may have moved on since the seed
				// (a new registry column): the server does not migrate.
				err = migrateShared(ctx, pool)
			}
			pool.Close()
			if err == nil && seeded == n {
				logf("%s: reusing %d seeded tenants", name, n)
				return url, nil
			}
		}
		if err := pgcluster.DropDatabase(ctx, admin, name); err != nil {
			return "", err
		}
	}
	// As tests and the dev command make theirs: owned by a login role
	// that is no superuser, with CREATEROLE.
	if err := pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{Name: name}); err != nil {
		return "", err
	}
	if ts != nil {
		if _, err := ac.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" CREATEDB"); err != nil {
			return "", err
		}
	}
	if err := seedTenants(ctx, url, cl.URL(pgcluster.Superuser, name), name, n, true, ts); err != nil {
		return "", err
	}
	return url, nil
}

// migrateShared brings a kept database's shared tables up to date.
func migrateShared(ctx context.Context, pool *pgxpool.Pool) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: quiet})
	if err != nil {
		return err
	}
	_, err = m.MigrateShared(ctx, nil)
	return err
}

// seedSQL is a tenant's (or the single schema's) hotels and rooms, one
// statement a string.
func seedSQL(slug string) []string {
	return []string{`INSERT INTO hotel (name, city, stars)
SELECT '` + slug + ` Hotel ' || g, (ARRAY['Lisbon','Porto','Madrid','Paris','Berlin'])[1 + g % 5], 1 + g % 5
FROM generate_series(1, 10) g`, `INSERT INTO room (hotel_id, number, beds, price)
SELECT h.id, r::text, 1 + r % 3, 80 + 10 * r FROM hotel h, generate_series(1, 3) r`}
}

// seedHotels seeds tenant slug's tables in tx (search_path on them).
func seedHotels(ctx context.Context, tx pgx.Tx, slug string) error {
	// One statement per query string, as on Citus.
	for _, q := range seedSQL(slug) {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	// W3 reads the public directory, off by default.
	_, err := tx.Exec(ctx, "UPDATE settings SET public_directory = true")
	return err
}

func migrationSQL() string {
	b, err := fs.ReadFile(migrations.Tenant(), "0001_hotels.sql")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// seedTenants migrates database name (at url, its owner's) and creates n
// tenants t0001… through the registry, 4 at a time, then the single schema
// W6 reads (when single), the seeded marker, VACUUM (ANALYZE) and
// CHECKPOINT as superURL.
func seedTenants(ctx context.Context, url, superURL, name string, n int, single bool, ts *tierSeed) error {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: quiet})
	if err != nil {
		return err
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		return err
	}
	rc := &condo.RegistryConfig{Logger: quiet}
	if ts != nil {
		rc.SecretKey = ts.key
	}
	reg := condo.NewRegistry(pool, m, rc)
	defer reg.Close()
	start := time.Now()
	logf("%s: creating %d tenants through the registry", name, n)
	jobs := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("t%04d", i)
				tier := condo.TierSchema
				if ts != nil && i%ts.every == 0 {
					tier = condo.TierDatabase
				}
				_, err := reg.Create(ctx, condo.CreateParams{
					Slug: slug, Name: "Tenant " + slug, Domains: []string{slug + ".example.test"}, Tier: tier,
					OnCreated: func(ctx context.Context, rtx pgx.Tx, t *condo.Tenant) error {
						if t.Tier == condo.TierDatabase {
							// Its tables are in its own database.
							return reg.InTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error { return seedHotels(ctx, tx, slug) })
						}
						return seedHotels(ctx, rtx, slug)
					},
				})
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	for i := 1; i <= n; i++ {
		select {
		case jobs <- i:
		case err := <-errc:
			close(jobs)
			wg.Wait()
			return err
		}
		if i%1000 == 0 {
			logf("%s: %d tenants (%.0f s)", name, i, time.Since(start).Seconds())
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	// The table W6 reads: the same tables in one schema, no tenancy.
	if single {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA single; SET search_path TO single; "+migrationSQL()+"; "+strings.Join(seedSQL("single"), ";\n")+"; RESET search_path"); err != nil {
			return fmt.Errorf("single schema: %w", err)
		}
	}
	// _v2: databases seeded before the public directory became a per-tenant
	// setting (off by default) are seeded again, with it on.
	for _, q := range []string{"CREATE TABLE public.bench_seeded_v2 (n int)", "INSERT INTO public.bench_seeded_v2 VALUES (" + strconv.Itoa(n) + ")"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	logf("%s: seeded %d tenants in %.1f s; VACUUM (ANALYZE), CHECKPOINT", name, n, time.Since(start).Seconds())
	dc, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer dc.Close(context.Background())
	// The database tier's tenant databases (<name>_tenant_<id>) too.
	rows, err := dc.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1 || '_tenant_')", name)
	if err != nil {
		return err
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, db := range dbs {
		cc := dc.Config().Copy()
		cc.Database = db
		tc, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			return err
		}
		_, err = tc.Exec(ctx, "VACUUM (ANALYZE)")
		tc.Close(context.Background())
		if err != nil {
			return fmt.Errorf("VACUUM %s: %w", db, err)
		}
	}
	for _, q := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if _, err := dc.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
