package condo_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkTenantRolesScale is W1 at many existing tenants (issue 15):
// Registry.Create's time, and the first tenant read on a new pooled
// connection, at each size of CONDO_SCALE_SIZES (default 1000,10000), for
// the flat design (CONDO_SCALE_SHARDS unset: one runtime role, the owner a
// member of every tenant role) or the sharded one (CONDO_SCALE_SHARDS=S
// runtime roles on S pools, CONDO_SCALE_PROVISIONERS provisioning roles,
// default S). Run it on 15 and 18 with:
//
//	CONDO_SCALE_SIZES=1000,10000,50000,100000 CONDO_SCALE_SHARDS=32 CONDO_SCALE_PROVISIONERS=128 \
//	  go test -run '^$' -bench TenantRolesScale -benchtime 20x -timeout 2h .
//	CONDO_PG_BIN=/opt/condo/pg18/native/bin go test …
//
// Existing tenants are seeded hollow, as the superuser, 5,000 per
// transaction: a registry row, a tenant role and exactly the membership
// rows Registry.Create would have made in that design (16+'s implicit
// ADMIN OPTION of the creating role included; the flat owner's two rows
// per tenant as one, granted by the superuser: GRANTED BY the owner would
// make the seeding pay the very check being measured), but no schema: the
// measure is what roles and memberships cost, not a catalog of 100,000
// schemas. The tenants measured are real (schema, tables, role, grants,
// registry rows in one transaction, as the owner: CREATEROLE, no
// superuser). CONDO_SCALE_REAL=1 seeds real tenants through
// Registry.Create instead (4 at a time), to see what the catalog adds.
func BenchmarkTenantRolesScale(b *testing.B) {
	sizes := envInts(b, "CONDO_SCALE_SIZES", "1000,10000")
	shards := envInts(b, "CONDO_SCALE_SHARDS", "0")[0]
	provs := envInts(b, "CONDO_SCALE_PROVISIONERS", strconv.Itoa(shards))[0]
	e := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: 5})
	ctx := b.Context()
	var num int
	if err := e.pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		b.Fatal(err)
	}
	admin := superuserURL(b, e.db)
	var runtimes []string
	for k := range max(shards, 1) {
		rt := e.db.Role + "_rt_" + strconv.Itoa(k)
		if _, err := e.pool.Exec(ctx, "CREATE ROLE "+rt+" LOGIN NOINHERIT"); err != nil {
			b.Fatal(err)
		}
		if _, err := condo.GrantRuntime(ctx, e.pool, rt, &condo.GrantRuntimeOpts{Shards: shards, Shard: k}); err != nil {
			b.Fatal(err)
		}
		runtimes = append(runtimes, rt)
	}
	if provs > 0 {
		if _, err := condo.Provision(ctx, e.pool, provs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("server %d, shards %d, provisioning roles %d", num, shards, provs)
	var have int // tenants in the registry
	created := 0
	for _, n := range sizes {
		start := time.Now()
		if os.Getenv("CONDO_SCALE_REAL") != "" {
			seedReal(b, e, have, n)
		} else {
			seedHollow(b, admin, e.db.Role, num, runtimes, provs, have, n)
		}
		b.Logf("seeded to %d in %s", n, time.Since(start).Round(time.Millisecond))
		have = n
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			var lat []time.Duration
			var last *condo.Tenant
			for b.Loop() {
				created++
				slug := fmt.Sprintf("w%06d", created)
				t0 := time.Now()
				t, err := e.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Domains: []string{slug + ".example.test"}})
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				last = t
			}
			have += len(lat)
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "create-p50-ms")
			b.ReportMetric(pct(0.95), "create-p95-ms")
			b.ReportMetric(pct(1), "create-max-ms")
			first, whole := firstRequest(b, e, runtimes, last)
			b.ReportMetric(float64(first.Microseconds())/1000, "first-req-ms")
			b.ReportMetric(float64(whole.Microseconds())/1000, "connect+first-req-ms")
			b.ReportMetric(loadAvg(), "load1")
		})
	}
}

func envInts(b *testing.B, name, def string) []int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		out = append(out, n)
	}
	return out
}

func loadAvg() float64 {
	raw, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(raw) + " 0")[0], 64)
	return f
}

func superuserURL(b *testing.B, db *condotest.Database) string {
	b.Helper()
	cfg, err := pgx.ParseConfig(condotest.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	return strings.Replace(db.URL, "://"+db.Role+"@", "://"+cfg.User+"@", 1)
}

// seedHollow adds hollow tenants (see BenchmarkTenantRolesScale) from
// have up to n.
func seedHollow(b *testing.B, admin, owner string, num int, runtimes []string, provs, have, n int) {
	b.Helper()
	ctx := b.Context()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	v16 := num >= 160000
	shards := len(runtimes)
	for have < n {
		batch := min(5000, n-have)
		rows, _ := c.Query(ctx, "SELECT nextval('public.condo_tenants_id_seq') FROM generate_series(1, $1)", batch)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			b.Fatal(err)
		}
		var s strings.Builder
		s.WriteString("BEGIN;\n")
		for _, id := range ids {
			ro := fmt.Sprintf("%s_tenant_%d", owner, id)
			fmt.Fprintf(&s, "INSERT INTO public.condo_tenants (id, slug, name, schema_name, role_name) VALUES (%d, 'h%d', 'h', 'tenant_%d', '%s');\n", id, id, id, ro)
			s.WriteString("CREATE ROLE " + ro + " NOLOGIN;\n")
			rt := runtimes[id%int64(shards)]
			switch {
			case provs == 0 && v16:
				s.WriteString("GRANT " + ro + " TO " + owner + " WITH ADMIN OPTION, INHERIT FALSE, SET TRUE GRANTED BY CURRENT_USER;\n" +
					"GRANT " + ro + " TO " + rt + " WITH INHERIT FALSE, SET TRUE GRANTED BY CURRENT_USER;\n")
			case provs == 0:
				s.WriteString("GRANT " + ro + " TO " + owner + ";\nGRANT " + ro + " TO " + rt + ";\n")
			case v16:
				p := fmt.Sprintf("%s_prov_%d", owner, id%int64(provs))
				s.WriteString("GRANT " + ro + " TO " + p + " WITH ADMIN OPTION, INHERIT FALSE, SET FALSE GRANTED BY CURRENT_USER;\n" +
					"GRANT " + ro + " TO " + rt + " WITH INHERIT FALSE, SET TRUE GRANTED BY " + p + ";\n")
			default:
				s.WriteString("GRANT " + ro + " TO " + rt + ";\n")
			}
		}
		s.WriteString("COMMIT;\n")
		if _, err := c.Exec(ctx, s.String()); err != nil {
			b.Fatalf("seed: %v", err)
		}
		have += batch
	}
	if provs > 0 {
		// What Create's counting would have recorded for the seeding's
		// id % provs assignment.
		if _, err := c.Exec(ctx, "UPDATE public.condo_provisioners p SET roles = (SELECT count(*) FROM public.condo_tenants t WHERE t.id % $1 = p.shard)", provs); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"VACUUM (ANALYZE) public.condo_tenants", "VACUUM (ANALYZE) pg_catalog.pg_auth_members", "VACUUM (ANALYZE) pg_catalog.pg_authid"} {
		if _, err := c.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// firstRequest opens a new pool as the runtime role serving t and times a
// tenant read on its first connection: the read alone, and connecting
// plus the read.
func firstRequest(b *testing.B, e *env, runtimes []string, t *condo.Tenant) (time.Duration, time.Duration) {
	b.Helper()
	ctx := b.Context()
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.User = runtimes[t.ID%int64(len(runtimes))]
	cfg.MinConns = 0
	start := time.Now()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	connected := time.Now()
	// A one-pool set: it serves this tenant, as its shard's pool would.
	err = condo.NewTenantPoolsOf(pool).QueryTenant(condo.WithTenant(ctx, t), func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}, "SELECT id, name FROM hotel")
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(connected), time.Since(start)
}

// seedReal creates real tenants from have up to n through the registry,
// four at a time.
func seedReal(b *testing.B, e *env, have, n int) {
	b.Helper()
	ctx := b.Context()
	jobs := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("r%06d", i)
				if _, err := e.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Domains: []string{slug + ".example.test"}}); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		})
	}
	for i := have; i < n; i++ {
		select {
		case jobs <- i:
		case err := <-errc:
			close(jobs)
			wg.Wait()
			b.Fatal(err)
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
}
