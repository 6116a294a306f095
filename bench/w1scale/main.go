// Command w1scale measures W1 (tenant creation through Registry.Create)
// and the first request on a new pooled connection at many existing
// tenants (issue 15), for the flat design (one runtime role, the owner a
// member of every tenant role) or the sharded one (-shards S: S
// provisioning roles, S runtime roles on S tenant-affine pools).
//
// Existing tenants are seeded hollow, as the superuser, 5,000 per
// transaction: a registry row, a tenant role and exactly the membership
// rows Registry.Create would have made for that design (PostgreSQL 16+'s
// implicit ADMIN OPTION of the creating role included; the flat owner's
// two rows per tenant as one), but no schema,
// since the measure is the cost of roles and memberships, not of a
// catalog holding 100,000 schemas. The tenants measured are real: schema,
// the reference app's tables, role, grants, registry rows, one
// transaction each, as the owner (CREATEROLE, no superuser).
//
//	go run ./bench/w1scale -bin /usr/lib/postgresql/15/bin -shards 32
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/internal/pgcluster"
)

type bench struct {
	cl       *pgcluster.Cluster
	num      int
	shards   int
	provs    int // provisioning roles; 0: shards
	pool     *pgxpool.Pool
	reg      *condo.Registry
	runtimes []string
	seeded   int
	created  int
}

func main() {
	bin := flag.String("bin", "", "PostgreSQL bin directory")
	sizes := flag.String("sizes", "1000,10000,50000,100000", "existing tenants to measure at")
	shards := flag.Int("shards", 0, "0: flat; S: S provisioning and runtime roles")
	provs := flag.Int("provisioners", 0, "provisioning roles with -shards (default: as many as shards)")
	count := flag.Int("n", 20, "tenants created at each size")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "w1scale")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cl, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Fast: true, BinDir: *bin})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Stop()
	b := &bench{cl: cl, shards: *shards, provs: *provs}
	if b.provs == 0 {
		b.provs = b.shards
	}
	if err := b.setup(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.pool.Close()
	design := "flat"
	if b.shards > 0 {
		design = fmt.Sprintf("sharded/%d, %d provisioning roles", b.shards, b.provs)
	}
	fmt.Printf("server %d, design %s\n", b.num, design)
	fmt.Println("tenants\tcreate_p50_ms\tcreate_p95_ms\tcreate_max_ms\tfirst_req_ms\tconnect_and_first_req_ms\tload1")
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatal(err)
		}
		t0 := time.Now()
		if err := b.seedTo(ctx, n); err != nil {
			log.Fatal(err)
		}
		log.Printf("seeded to %d in %s", n, time.Since(t0).Round(time.Millisecond))
		p50, p95, mx, last, err := b.create(ctx, *count)
		if err != nil {
			log.Fatal(err)
		}
		first, whole, err := b.firstRequest(ctx, last)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\n", n, ms(p50), ms(p95), ms(mx), ms(first), ms(whole), load())
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func (b *bench) setup(ctx context.Context) error {
	admin := b.cl.URL(pgcluster.Superuser, "postgres")
	if err := pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{Name: "app"}); err != nil {
		return err
	}
	var err error
	if b.pool, err = pgxpool.New(ctx, b.cl.URL("app", "app")); err != nil {
		return err
	}
	if err := b.pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&b.num); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := condomigrate.New(b.pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: quiet})
	if err != nil {
		return err
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		return err
	}
	b.reg = condo.NewRegistry(b.pool, m, &condo.RegistryConfig{Logger: quiet})
	n := max(b.shards, 1)
	for k := range n {
		rt := "app_runtime_" + strconv.Itoa(k)
		if _, err := b.pool.Exec(ctx, "CREATE ROLE "+rt+" LOGIN NOINHERIT"); err != nil {
			return err
		}
		opts := &condo.GrantRuntimeOpts{}
		if b.shards > 0 {
			opts.Shards, opts.Shard = b.shards, k
		}
		if _, err := condo.GrantRuntime(ctx, b.pool, rt, opts); err != nil {
			return err
		}
		b.runtimes = append(b.runtimes, rt)
	}
	if b.shards > 0 {
		if _, err := condo.Provision(ctx, b.pool, b.provs); err != nil {
			return err
		}
	}
	return nil
}

// seedTo adds hollow tenants (see the package comment) up to n.
func (b *bench) seedTo(ctx context.Context, n int) error {
	c, err := pgx.Connect(ctx, b.cl.URL(pgcluster.Superuser, "app"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	v16 := b.num >= 160000
	for b.seeded+b.created < n {
		var s strings.Builder
		s.WriteString("BEGIN;\n")
		batch := min(5000, n-b.seeded-b.created)
		var ids []int64
		rows, err := c.Query(ctx, "SELECT nextval('public.condo_tenants_id_seq') FROM generate_series(1, $1)", batch)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		for _, id := range ids {
			ro := "app_tenant_" + strconv.FormatInt(id, 10)
			fmt.Fprintf(&s, "INSERT INTO public.condo_tenants (id, slug, name, schema_name, role_name) VALUES (%d, 'h%d', 'h', 'tenant_%d', '%s');\n", id, id, id, ro)
			s.WriteString("CREATE ROLE " + ro + " NOLOGIN;\n")
			k := 0
			if b.shards > 0 {
				k = int(id % int64(b.shards))
			}
			rt := b.runtimes[k]
			switch {
			case b.shards == 0 && v16:
				// One row where Create makes two (the implicit ADMIN one
				// and the owner's own SET one): GRANTED BY app would make
				// the superuser pay the ADMIN check being measured on
				// every seeded role.
				s.WriteString("GRANT " + ro + " TO app WITH ADMIN OPTION, INHERIT FALSE, SET TRUE GRANTED BY postgres;\n" +
					"GRANT " + ro + " TO " + rt + " WITH INHERIT FALSE, SET TRUE GRANTED BY postgres;\n")
			case b.shards == 0:
				s.WriteString("GRANT " + ro + " TO app;\nGRANT " + ro + " TO " + rt + ";\n")
			case v16:
				p := "app_prov_" + strconv.Itoa(int(id%int64(b.provs)))
				s.WriteString("GRANT " + ro + " TO " + p + " WITH ADMIN OPTION, INHERIT FALSE, SET FALSE GRANTED BY postgres;\n" +
					"GRANT " + ro + " TO " + rt + " WITH INHERIT FALSE, SET TRUE GRANTED BY " + p + ";\n")
			default:
				s.WriteString("GRANT " + ro + " TO " + rt + ";\n")
			}
		}
		s.WriteString("COMMIT;\n")
		if _, err := c.Exec(ctx, s.String()); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		b.seeded += batch
	}
	if b.provs > 0 {
		// What Create's counting would have recorded for the seeding's
		// id % provs assignment.
		if _, err := c.Exec(ctx, "UPDATE public.condo_provisioners p SET roles = (SELECT count(*) FROM public.condo_tenants t WHERE t.id % $1 = p.shard)", b.provs); err != nil {
			return err
		}
	}
	for _, q := range []string{"VACUUM (ANALYZE) public.condo_tenants", "VACUUM (ANALYZE) pg_catalog.pg_auth_members", "VACUUM (ANALYZE) pg_catalog.pg_authid"} {
		if _, err := c.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// create makes count real tenants through the registry, one after
// another, and returns p50, p95, max and the last tenant made.
func (b *bench) create(ctx context.Context, count int) (p50, p95, mx time.Duration, last *condo.Tenant, err error) {
	var lat []time.Duration
	for range count + 1 {
		b.created++
		slug := fmt.Sprintf("w%06d", b.created)
		t0 := time.Now()
		t, err := b.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Domains: []string{slug + ".example.test"}})
		if err != nil {
			return 0, 0, 0, nil, err
		}
		lat = append(lat, time.Since(t0))
		last = t
	}
	lat = lat[1:] // the first warms the owner's connection
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	return pct(0.5), pct(0.95), lat[len(lat)-1], last, nil
}

// firstRequest opens a new pool as the tenant's runtime role and times a
// tenant read on its first connection: the read alone, and connection
// set-up plus the read.
func (b *bench) firstRequest(ctx context.Context, t *condo.Tenant) (time.Duration, time.Duration, error) {
	rt := b.runtimes[0]
	if b.shards > 0 {
		rt = b.runtimes[t.ID%int64(b.shards)]
	}
	cfg, err := pgxpool.ParseConfig(b.cl.URL(rt, "app"))
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return 0, 0, err
	}
	connected := time.Now()
	// The tenant's own shard pool: a one-pool set serves every tenant.
	pools := condo.NewTenantPoolsOf(pool)
	err = pools.QueryTenant(condo.WithTenant(ctx, t), func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}, "SELECT id, name FROM hotel")
	if err != nil {
		return 0, 0, err
	}
	return time.Since(connected), time.Since(start), nil
}
