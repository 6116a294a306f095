// Command rolecost measures what PostgreSQL's role membership costs Condo
// as tenant roles grow (issue 15): the time to create a tenant role with
// its memberships, a fresh backend's first tenant switch, and the switch
// while tenants are being created, for two designs side by side:
//
//   - flat: the owner creates every tenant role, is a member of each and
//     grants each to the one runtime login role (Condo before issue 15);
//   - sharded: tenant i belongs to shard i mod S; the owner creates it as
//     the shard's provisioning role (NOLOGIN CREATEROLE, of which the owner
//     is a standing member here: the first sharded design, see
//     BENCHMARKS.md) and grants it to the shard's runtime login role only,
//     so no runtime role has more than N/S memberships.
//
// It seeds role-only tenants fast (no schemas: the measure is the role
// cost) as the superuser, in batches of 2,000 per transaction, with the
// same pg_auth_members rows the non-superuser owner would have made
// (including PostgreSQL 16+'s implicit ADMIN OPTION for a CREATEROLE
// creator; on 16+ the flat owner's two rows per tenant are seeded as one,
// granted by the superuser, so the seeding does not pay the cost being
// measured), then measures as the non-superuser owner, as production runs.
//
//	go run ./bench/rolecost -bin /usr/lib/postgresql/15/bin -sizes 1000,10000,50000,100000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgcluster"
)

type run struct {
	cl     *pgcluster.Cluster
	num    int
	shards int // 0: flat
	n      int // tenant roles seeded
	next   int // next tenant number for measured creations
}

func main() {
	bin := flag.String("bin", "", "PostgreSQL bin directory")
	sizes := flag.String("sizes", "1000,10000,50000,100000", "tenant counts to measure at")
	shards := flag.Int("shards", 0, "0: flat design; S: sharded design with S shards")
	dir := flag.String("dir", "", "cluster directory (default: a temporary one)")
	trace := flag.Bool("trace", false, "after the last size, time each statement of one creation")
	flag.Parse()
	ctx := context.Background()
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "rolecost"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
	}
	cl, err := pgcluster.Start(ctx, pgcluster.Config{Dir: d, Fast: true, BinDir: *bin})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Stop()
	r := &run{cl: cl, shards: *shards}
	if err := r.setup(ctx); err != nil {
		log.Fatal(err)
	}
	design := "flat"
	if r.shards > 0 {
		design = fmt.Sprintf("sharded/%d", r.shards)
	}
	fmt.Printf("server %d, design %s\n", r.num, design)
	fmt.Println("tenants\tcreate_med_ms\tcreate_max_ms\tfirst_switch_med_ms\tfirst_switch_max_ms\tswitch_during_create_avg_ms\tswitch_during_create_max_ms\tload1")
	for _, f := range strings.Split(*sizes, ",") {
		target, err := strconv.Atoi(f)
		if err != nil {
			log.Fatal(err)
		}
		t0 := time.Now()
		if err := r.seedTo(ctx, target); err != nil {
			log.Fatal(err)
		}
		log.Printf("seeded to %d in %s", target, time.Since(t0).Round(time.Millisecond))
		cmed, cmax, err := r.measureCreate(ctx, 20)
		if err != nil {
			log.Fatal(err)
		}
		fmed, fmax, err := r.measureFirstSwitch(ctx, 3)
		if err != nil {
			log.Fatal(err)
		}
		davg, dmax, err := r.measureSwitchDuringCreate(ctx, 10)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\n", r.n, ms(cmed), ms(cmax), ms(fmed), ms(fmax), ms(davg), ms(dmax), load())
	}
	if *trace {
		if err := r.trace(ctx); err != nil {
			log.Fatal(err)
		}
	}
}

// trace runs one creation statement by statement, in one transaction,
// printing each statement's time.
func (r *run) trace(ctx context.Context) error {
	c, err := pgx.Connect(ctx, r.owner())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for round := range 2 {
		i := r.next
		r.next++
		stmts := append([]string{"BEGIN"}, strings.Split(strings.TrimSuffix(r.createSQL(i, false), ";\n"), ";\n")...)
		for _, q := range append(stmts, "COMMIT") {
			start := time.Now()
			if _, err := c.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			fmt.Printf("trace %d\t%.2f ms\t%s\n", round, ms(time.Since(start)), q)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func (r *run) super() string  { return r.cl.URL(pgcluster.Superuser, "postgres") }
func (r *run) owner() string  { return r.cl.URL("app", "postgres") }
func (r *run) member() string { return memberOpts(r.num) }

func memberOpts(num int) string {
	if num >= 160000 {
		return " WITH INHERIT FALSE, SET TRUE"
	}
	return ""
}

// runtime is the runtime login role of tenant i.
func (r *run) runtime(i int) string {
	if r.shards == 0 {
		return "rt"
	}
	return fmt.Sprintf("rt_%d", i%r.shards)
}

func (r *run) prov(i int) string { return fmt.Sprintf("prov_%d", i%r.shards) }

func (r *run) setup(ctx context.Context) error {
	c, err := pgx.Connect(ctx, r.super())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&r.num); err != nil {
		return err
	}
	sql := "CREATE ROLE app LOGIN CREATEROLE;\n"
	if r.shards == 0 {
		sql += "CREATE ROLE rt LOGIN NOINHERIT;\n"
	}
	for k := range r.shards {
		// The provisioning role is made by the owner in production
		// (runtime-grant), so on 16+ the owner holds ADMIN on it.
		// The owner is a standing member of every provisioning role: the
		// first design tried (see BENCHMARKS.md; Registry.Create calls a
		// function each provisioning role owns instead).
		sql += fmt.Sprintf("CREATE ROLE rt_%d LOGIN NOINHERIT;\nCREATE ROLE prov_%d NOLOGIN CREATEROLE;\nGRANT prov_%d TO app%s;\n", k, k, k, r.member())
	}
	_, err = c.Exec(ctx, sql)
	return err
}

// seedTo creates role-only tenants up to target as the superuser, with the
// membership rows the owner would have made.
func (r *run) seedTo(ctx context.Context, target int) error {
	c, err := pgx.Connect(ctx, r.super())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for r.n < target {
		var b strings.Builder
		b.WriteString("BEGIN;\n")
		for i := r.n; i < min(target, r.n+2000); i++ {
			b.WriteString(r.createSQL(i, true))
		}
		b.WriteString("COMMIT;\n")
		if _, err := c.Exec(ctx, b.String()); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		r.n = min(target, r.n+2000)
	}
	r.next = max(r.next, 10_000_000)
	return nil
}

// createSQL makes tenant role t<i>: as the owner (seed false) or its
// superuser equivalent (seed true).
func (r *run) createSQL(i int, seed bool) string {
	t := fmt.Sprintf("t%d", i)
	if r.shards == 0 {
		if !seed {
			return "CREATE ROLE " + t + " NOLOGIN;\nGRANT " + t + " TO CURRENT_USER" + r.member() + ";\nGRANT " + t + " TO rt" + r.member() + ";\n"
		}
		s := "CREATE ROLE " + t + " NOLOGIN;\n"
		if r.num >= 160000 {
			// One row where the owner has two (the implicit ADMIN one and
			// its own SET one, granted by itself): a grant GRANTED BY app
			// makes the superuser check app's ADMIN OPTION, which costs
			// what is measured here on every seeded role.
			s += "GRANT " + t + " TO app WITH ADMIN OPTION, INHERIT FALSE, SET TRUE GRANTED BY postgres;\n" +
				"GRANT " + t + " TO rt WITH INHERIT FALSE, SET TRUE GRANTED BY postgres;\n"
		} else {
			s += "GRANT " + t + " TO app;\nGRANT " + t + " TO rt;\n"
		}
		return s
	}
	p, rt := r.prov(i), r.runtime(i)
	if !seed {
		return "SET LOCAL ROLE " + p + ";\nCREATE ROLE " + t + " NOLOGIN;\nGRANT " + t + " TO " + rt + r.member() + ";\nSET LOCAL ROLE NONE;\n"
	}
	s := "CREATE ROLE " + t + " NOLOGIN;\n"
	if r.num >= 160000 {
		s += "GRANT " + t + " TO " + p + " WITH ADMIN OPTION, INHERIT FALSE, SET FALSE GRANTED BY postgres;\n" +
			"GRANT " + t + " TO " + rt + " WITH INHERIT FALSE, SET TRUE GRANTED BY " + p + ";\n"
	} else {
		s += "GRANT " + t + " TO " + rt + ";\n"
	}
	return s
}

// measureCreate creates count tenant roles as the owner on one long-lived
// connection, one transaction each, and returns the median and maximum.
func (r *run) measureCreate(ctx context.Context, count int) (time.Duration, time.Duration, error) {
	c, err := pgx.Connect(ctx, r.owner())
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(ctx)
	var ds []time.Duration
	for range count + 1 {
		i := r.next
		r.next++
		start := time.Now()
		if _, err := c.Exec(ctx, "BEGIN;\n"+r.createSQL(i, false)+"COMMIT;"); err != nil {
			return 0, 0, fmt.Errorf("create: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	ds = ds[1:] // the first one warms the connection's caches
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)-1], nil
}

func (r *run) switchOnce(ctx context.Context, c *pgx.Conn, i int) (time.Duration, error) {
	start := time.Now()
	_, err := c.Exec(ctx, "BEGIN; SELECT set_config('role', 't"+strconv.Itoa(i)+"', true); SELECT current_user; COMMIT;")
	return time.Since(start), err
}

// measureFirstSwitch opens count fresh backends as the runtime role of
// tenant 0's shard and times each one's first tenant switch.
func (r *run) measureFirstSwitch(ctx context.Context, count int) (time.Duration, time.Duration, error) {
	var ds []time.Duration
	for k := range count {
		i := k * max(r.shards, 1) % r.n // a tenant of shard 0
		c, err := pgx.Connect(ctx, r.cl.URL(r.runtime(i), "postgres"))
		if err != nil {
			return 0, 0, err
		}
		d, err := r.switchOnce(ctx, c, i)
		c.Close(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("first switch: %w", err)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)-1], nil
}

// measureSwitchDuringCreate switches tenants in a loop on one backend while
// count tenants are created (in other shards too), and returns the average
// and the maximum switch time during the creations.
func (r *run) measureSwitchDuringCreate(ctx context.Context, count int) (time.Duration, time.Duration, error) {
	c, err := pgx.Connect(ctx, r.cl.URL(r.runtime(0), "postgres"))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(ctx)
	if _, err := r.switchOnce(ctx, c, 0); err != nil {
		return 0, 0, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var cerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		_, _, cerr = r.measureCreate(ctx, count)
	}()
	var sum, mx time.Duration
	var n int
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
		}
		d, err := r.switchOnce(ctx, c, 0)
		if err != nil {
			return 0, 0, err
		}
		sum += d
		mx = max(mx, d)
		n++
	}
	wg.Wait()
	if cerr != nil {
		return 0, 0, cerr
	}
	return sum / time.Duration(n), mx, nil
}
