// Command bench runs the HTTP workloads W3–W6 of WORKLOADS.md against the
// reference app's tenant handler, and prints one line per workload:
//
//	go run ./bench all        # W3, W4, W5, W6 (about 10 minutes; W5 seeds 10,000 tenants once)
//	go run ./bench w3         # W3 (and W4, measured during W3)
//	go run ./bench w6         # W3 and W6, interleaved
//	go run ./bench w5         # W3 and W5, interleaved
//	go run ./bench w9         # W3 single node, W3 and W5 (-w9-tenants) on a 3-node Citus cluster, interleaved
//	go run ./bench w5scale    # W3 and W5 at -scale-tenants (50,000, 100,000) real tenants, runtime shards and
//	                          # provisioning roles, without and with one creation a second (issue 15);
//	                          # -scale-reserve N: those creations take roles from a reserve of N
//	go run ./bench w8         # W3 direct and W3 through PgBouncer (transaction mode, pool 16), interleaved
//	go run ./bench w1p        # W1 without and with a warm pool of pending tenants (W1p), alternated
//	go run ./bench w3tier     # W3 and W3 with 10 of the 100 tenants in the database tier, interleaved
//	go run ./bench w1tier     # W1 in the schema tier and in the database tier, alternated
//	go run ./bench versions -pg-bin /usr/lib/postgresql/15/bin,/opt/condo/pg18/native/bin
//	                          # W3 and W6 on each PostgreSQL, interleaved
//
// It starts its own PostgreSQL under bench/out/pg (kept between runs, so
// the seeded databases are reused), seeds tenants through the registry
// (the path the CLI and the signup page use), runs the server as a child
// process (so its memory is its own) and loads it with wrk, using the
// shared Lua script that picks a random tenant Host per request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/condo-dev/condo/internal/pgcluster"
)

type options struct {
	out      string
	socket   bool
	pbSocket bool
	lua      string
	runs     int
	duration time.Duration
	warmup   time.Duration
	conns    int
	threads  int
	dbConns  int
	w5       int
	w9       int
	w1p      int
	w1tier   int
	tierConn int
	sample   int
	profile  bool

	// W5 at scale (issue 15): sizes, runtime shards, provisioning roles.
	scaleTenants []int
	scaleShards  int
	scalePrewarm bool
	scaleProv    int
	// scaleStatements: pg_stat_statements snapshots while growing.
	scaleStatements bool
	// scaleVacuum: VACUUM (ANALYZE) and CHECKPOINT after growing.
	scaleVacuum bool
	// scaleReserve: a tenant role reserve of this size in the harness
	// during the runs (0: none).
	scaleReserve int
	extra        []string

	pgSettings map[string]string
	// pgBins are PostgreSQL bin directories (-pg-bin): the first one runs
	// every workload; "versions" compares them all. Empty: pgcluster's
	// choice ($CONDO_PG_BIN, PATH, Debian's).
	pgBins []string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serveMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench serve:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&o.out, "out", "bench/out", "state directory (PostgreSQL data, logs)")
	fs.StringVar(&o.lua, "lua", "../shared/bench/wrk_hosts.lua", "wrk script")
	fs.IntVar(&o.runs, "runs", 3, "runs per workload (the median is reported)")
	fs.DurationVar(&o.duration, "d", 20*time.Second, "wrk duration")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "warm-up before each run")
	fs.IntVar(&o.conns, "c", 16, "wrk connections")
	fs.IntVar(&o.threads, "t", 2, "wrk threads")
	fs.IntVar(&o.dbConns, "db-conns", 16, "server pool size")
	fs.IntVar(&o.w5, "w5-tenants", 10000, "tenants for W5")
	fs.IntVar(&o.w9, "w9-tenants", 1000, "tenants for W5 on Citus (W9)")
	fs.IntVar(&o.w1p, "w1p-tenants", 1000, "tenants created per side of W1p")
	fs.IntVar(&o.w1tier, "w1tier-tenants", 100, "tenants created per side of w1tier")
	fs.IntVar(&o.tierConn, "tier-pool-conns", 0, "w3tier: connections of each database-tier tenant's pool (0: the registry's default)")
	fs.Func("scale-tenants", "w5scale: tenant counts to grow to and measure, comma-separated, ascending (default 50000,100000)", func(v string) error {
		o.scaleTenants = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return err
			}
			o.scaleTenants = append(o.scaleTenants, n)
		}
		return nil
	})
	fs.IntVar(&o.scaleShards, "scale-shards", 32, "w5scale: runtime login roles, one pool each (db-conns/shards connections each, at least 1)")
	fs.BoolVar(&o.scalePrewarm, "scale-prewarm", false, "w5scale: before the runs, request every tenant once through the server (a server that has been up a while), and report how long that took")
	fs.IntVar(&o.scaleProv, "scale-provisioners", 128, "w5scale: provisioning roles")
	fs.BoolVar(&o.scaleStatements, "scale-statements", false, "w5scale: while growing, write the statements' mean times at 1,000 tenants and every 10,000 to w5s-statements.log (needs -pg shared_preload_libraries=pg_stat_statements -pg pg_stat_statements.track=all)")
	fs.BoolVar(&o.scaleVacuum, "scale-vacuum", true, "w5scale: VACUUM (ANALYZE) and CHECKPOINT before measuring each size (false: the database was vacuumed at this size by an earlier run; at 100,000 tenants it takes minutes)")
	fs.IntVar(&o.scaleReserve, "scale-reserve", 0, "w5scale: keep a tenant role reserve of this size (condo.RoleReserve, filled before the runs, refilled at half) in the harness during each size's runs, so the +1 creation/s rows create from it; 0: none")
	fs.IntVar(&o.sample, "sample", 1000, "responses checked for wrong-tenant rows")
	fs.BoolVar(&o.profile, "profile", false, "write a CPU profile of the server during each run to the state directory")
	noLog := fs.Bool("no-access-log", false, "turn the server's access log off")
	fs.BoolVar(&o.pbSocket, "pgbouncer-socket", false, "W8: PgBouncer reaches PostgreSQL over its Unix socket instead of TCP on loopback")
	fs.BoolVar(&o.socket, "socket", false, "connect the servers and pgbench to PostgreSQL over its Unix socket instead of TCP on loopback")
	partitions := fs.Int("partitions", 1, "tenant-affine connection pools in the server")
	fs.Func("pg", "a PostgreSQL setting for the bench cluster, name=value (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return errors.New("want name=value")
		}
		if o.pgSettings == nil {
			o.pgSettings = map[string]string{}
		}
		o.pgSettings[k] = val
		return nil
	})
	fs.Func("pg-bin", "PostgreSQL bin directories, comma-separated (the first for every workload; all of them for versions)", func(v string) error {
		o.pgBins = strings.Split(v, ",")
		return nil
	})
	fs.Usage = func() {
		var names []string
		for _, w := range workloads() {
			names = append(names, w.name)
		}
		fmt.Fprintf(os.Stderr, "usage: go run ./bench [flags] %s\n", strings.Join(names, "|"))
		fs.PrintDefaults()
	}
	if len(os.Args) < 2 {
		fs.Usage()
		os.Exit(2)
	}
	what := os.Args[1]
	_ = fs.Parse(os.Args[2:])
	if o.scaleTenants == nil {
		o.scaleTenants = []int{50000, 100000}
	}
	if *partitions > 1 {
		o.extra = append(o.extra, "-partitions", strconv.Itoa(*partitions))
	}
	if *noLog {
		o.extra = append(o.extra, "-access-log=false")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, what, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs workload what: it starts (or reuses) the bench cluster, seeds
// W3's database, starts and checks a W3 server, runs the workload and
// prints its report lines.
func run(ctx context.Context, what string, o options) error {
	i := slices.IndexFunc(workloads(), func(w workload) bool { return w.name == what })
	if i < 0 {
		return fmt.Errorf("unknown workload %q", what)
	}
	w := workloads()[i]
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	if _, err := os.Stat(o.lua); err != nil {
		return fmt.Errorf("wrk script: %w", err)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	o.out = out
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if w.alone != nil {
		return w.alone(ctx, o)
	}
	// A world-traversable directory, since PostgreSQL runs as another user
	// when we are root.
	pgDir := filepath.Join(out, "pg")
	var bin string
	if len(o.pgBins) > 0 {
		bin = o.pgBins[0]
	}
	pc := pgcluster.Config{Dir: pgDir, Fast: true, Settings: o.pgSettings, BinDir: bin}
	if what == "w3tier" {
		pc.HBA = tierHBA()
	}
	cl, err := pgcluster.Start(ctx, pc)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer cl.Stop()
	e := &env{o: o, cl: cl, admin: cl.URL(pgcluster.Superuser, "postgres")}
	if e.w3URL, err = seed(ctx, e.admin, cl, "w3", 100); err != nil {
		return err
	}
	logf("machine: %d CPUs, %s; %s; %s", runtime.NumCPU(), cpuModel(), runtime.Version(), pgVersion(ctx, e.admin))
	if e.w3srv, err = startServer(ctx, o, e.w3URL, "tenant", "w3"); err != nil {
		return err
	}
	defer e.w3srv.stop()
	if err := checkSample(ctx, e.w3srv.addr, 100, o.sample); err != nil {
		return fmt.Errorf("W3 check: %w", err)
	}
	lines, err := w.run(ctx, e)
	if err != nil {
		return err
	}
	// One line per workload.
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// dbURL is u, or with -socket the same database over the cluster's Unix
// socket (in the cluster's directory, same port number).
func (o options) dbURL(u string) string {
	if !o.socket {
		return u
	}
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set("host", filepath.Join(o.out, "pg"))
	q.Set("port", p.Port())
	p.Host = ""
	p.RawQuery = q.Encode()
	return p.String()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
