// Command bench runs the HTTP workloads W3–W6 of WORKLOADS.md against the
// reference app's tenant handler, and prints one line per workload:
//
//	go run ./bench all        # W3, W4, W5, W6 (about 10 minutes; W5 seeds 10,000 tenants once)
//	go run ./bench w3         # W3 (and W4, measured during W3)
//	go run ./bench w6         # W3 and W6, interleaved
//	go run ./bench w5         # W3 and W5, interleaved
//	go run ./bench w8         # W3 direct and W3 through PgBouncer (transaction mode, pool 16), interleaved
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
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/examples/hotels/web"
	"github.com/condo-dev/condo/internal/pgbouncer"
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
	sample   int
	profile  bool
	extra    []string

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
		fmt.Fprintln(os.Stderr, "usage: go run ./bench [flags] all|w3|w4|w5|w6|w7|w8|ceiling|versions")
		fs.PrintDefaults()
	}
	if len(os.Args) < 2 {
		fs.Usage()
		os.Exit(2)
	}
	what := os.Args[1]
	_ = fs.Parse(os.Args[2:])
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

func run(ctx context.Context, what string, o options) error {
	if !slices.Contains([]string{"all", "w3", "w4", "w5", "w6", "w7", "w8", "ceiling", "versions"}, what) {
		return fmt.Errorf("unknown workload %q", what)
	}
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
	if what == "versions" {
		return runVersions(ctx, o)
	}
	// A world-traversable directory, since PostgreSQL runs as another user
	// when we are root.
	pgDir := filepath.Join(out, "pg")
	var bin string
	if len(o.pgBins) > 0 {
		bin = o.pgBins[0]
	}
	cl, err := pgcluster.Start(ctx, pgcluster.Config{Dir: pgDir, Fast: true, Settings: o.pgSettings, BinDir: bin})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer cl.Stop()
	admin := cl.URL(pgcluster.Superuser, "postgres")

	w3URL, err := seed(ctx, admin, cl, "w3", 100)
	if err != nil {
		return err
	}
	logf("machine: %d CPUs, %s; %s; %s", runtime.NumCPU(), cpuModel(), runtime.Version(), pgVersion(ctx, admin))

	w3srv, err := startServer(ctx, o, w3URL, "tenant", "w3")
	if err != nil {
		return err
	}
	defer w3srv.stop()
	if err := checkSample(ctx, w3srv.addr, 100, o.sample); err != nil {
		return fmt.Errorf("W3 check: %w", err)
	}

	var w3, w6, w5, w3b []wrkResult
	var pgPeak pgMem
	switch what {
	case "w3", "w4":
		for i := range o.runs {
			r, mem, err := load(ctx, o, w3srv, 100, cl)
			if err != nil {
				return err
			}
			pgPeak = pgPeak.max(mem)
			w3 = append(w3, r)
			logf("W3 run %d: %s", i+1, r)
		}
	}
	if what == "all" || what == "w6" {
		w6srv, err := startServer(ctx, o, w3URL, "plain", "w6")
		if err != nil {
			return err
		}
		var mem pgMem
		w3, w6, mem, err = interleave(ctx, o, cl, w3srv, w6srv, 100, "", "W6")
		w6srv.stop()
		if err != nil {
			return err
		}
		pgPeak = pgPeak.max(mem)
	}
	var w7, w3c []wrkResult
	if what == "w7" {
		cert, key, err := wildcardCert(o.out, "example.test")
		if err != nil {
			return err
		}
		w7srv, err := startServer(ctx, o, w3URL, "tenant", "w7", "-tls-cert", cert, "-tls-key", key)
		if err != nil {
			return err
		}
		w3c, w7, _, err = interleave(ctx, o, cl, w3srv, w7srv, 100, " (W7 pair)", "W7 (HTTPS)")
		w7srv.stop()
		if err != nil {
			return err
		}
	}
	var w8, w3d []wrkResult
	if what == "w8" {
		// PgBouncer in transaction mode with 16 server connections, the
		// server's pool (db-conns) in front of it, and the direct URL for
		// the resolver's LISTEN.
		// PgBouncer reaches PostgreSQL over TCP, or with
		// -pgbouncer-socket (as when it runs on the database's host) over
		// the Unix socket.
		serverHost := "127.0.0.1"
		if o.pbSocket {
			serverHost = filepath.Join(o.out, "pg")
		}
		pb, err := pgbouncer.Start(ctx, pgbouncer.Config{
			Dir: filepath.Join(o.out, "pgbouncer"), ServerHost: serverHost, ServerPort: cl.Port(),
			PoolMode: "transaction", PoolSize: 16, Users: []string{"w3"},
		})
		if err != nil {
			return err
		}
		defer pb.Stop()
		w8srv, err := startServer(ctx, o, pb.URL("w3", "w3"), "tenant", "w8", "-pooler", "transaction", "-direct", o.dbURL(w3URL))
		if err != nil {
			return err
		}
		w8srv.pooler = pb.Pid()
		if err := checkSample(ctx, w8srv.addr, 100, o.sample); err != nil {
			w8srv.stop()
			return fmt.Errorf("W8 check: %w", err)
		}
		w3d, w8, _, err = interleave(ctx, o, cl, w3srv, w8srv, 100, " (W8 pair)", "W8 (PgBouncer)")
		w8srv.stop()
		if err != nil {
			return err
		}
	}
	var ceiling []string
	var ceilRPS []float64
	if what == "ceiling" {
		for _, mode := range []string{"bare", "static"} {
			s, err := startServer(ctx, o, w3URL, mode, mode)
			if err != nil {
				return err
			}
			var rs []wrkResult
			for i := range o.runs {
				r, _, err := load(ctx, o, s, 100, cl)
				if err != nil {
					return err
				}
				rs = append(rs, r)
				logf("%s run %d: %s", mode, i+1, r)
			}
			s.stop()
			m := median(rs)
			ceiling = append(ceiling, fmt.Sprintf("%s %.0f req/s (p50 %.2f ms)", mode, m.rps(), ms(m.P50)))
			ceilRPS = append(ceilRPS, m.rps())
		}
	}
	var pgb float64
	if what == "all" || what == "w6" || what == "ceiling" {
		if pgb, err = pgbench(ctx, o, w3URL); err != nil {
			return err
		}
	}
	if what == "all" || what == "w5" {
		w5URL, err := seed(ctx, admin, cl, "w5", o.w5)
		if err != nil {
			return err
		}
		w5srv, err := startServer(ctx, o, w5URL, "tenant", "w5")
		if err != nil {
			return err
		}
		if err := checkSample(ctx, w5srv.addr, o.w5, o.sample); err != nil {
			return fmt.Errorf("W5 check: %w", err)
		}
		w3b, w5, _, err = interleave(ctx, o, cl, w3srv, w5srv, o.w5, " (W5 pair)", "W5")
		if err != nil {
			w5srv.stop()
			return err
		}
		logf("W5 server peak RSS: %.1f MiB", float64(w5srv.peakRSS())/(1<<20))
		w5srv.stop()
	}

	// One line per workload.
	fmt.Println()
	if len(w3) > 0 {
		m := median(w3)
		fmt.Printf("W3  100 tenants: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d (median of %d; %d responses checked, 0 wrong-tenant rows)\n",
			m.rps(), ms(m.P50), ms(m.P99), sumNon2xx(w3), sumErrors(w3), len(w3), o.sample)
		fmt.Printf("W4  server peak RSS %.1f MiB; PostgreSQL backends peak RSS %.0f MiB (PSS %.0f MiB, %d processes)\n",
			float64(w3srv.peakRSS())/(1<<20), float64(pgPeak.rss)/(1<<20), float64(pgPeak.pss)/(1<<20), pgPeak.procs)
	}
	if len(w6) > 0 {
		m3, m6 := median(w3), median(w6)
		fmt.Printf("W6  no tenancy: %.0f req/s, p50 %.2f ms, p99 %.2f ms; W3/W6 req/s %.3f (median of per-run ratios %.3f); W3 vs pgbench -S-style %.0f tps: %.2f\n",
			m6.rps(), ms(m6.P50), ms(m6.P99), m3.rps()/m6.rps(), medianRatio(w3[len(w3)-len(w6):], w6), pgb, m3.rps()/pgb)
	}
	if len(w7) > 0 {
		m3, m7 := median(w3c), median(w7)
		fmt.Printf("W7  W3 over HTTPS (TLS 1.3, keep-alive): %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; HTTPS/HTTP req/s %.3f (median of per-run ratios %.3f; W3 in the same run: %.0f req/s)\n",
			m7.rps(), ms(m7.P50), ms(m7.P99), sumNon2xx(w7), sumErrors(w7), m7.rps()/m3.rps(), medianRatio(w7, w3c), m3.rps())
	}
	if len(w8) > 0 {
		m3, m8 := median(w3d), median(w8)
		fmt.Printf("W8  W3 through PgBouncer 1.18 (transaction mode, pool 16): %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; PgBouncer/direct req/s %.3f (median of per-run ratios %.3f; W3 direct in the same run: %.0f req/s, p99 %.2f ms)\n",
			m8.rps(), ms(m8.P50), ms(m8.P99), sumNon2xx(w8), sumErrors(w8), m8.rps()/m3.rps(), medianRatio(w8, w3d), m3.rps(), ms(m3.P99))
	}
	if len(ceiling) > 0 {
		// Each request needs both the HTTP work and the database's; on
		// shared cores their costs add up.
		fmt.Printf("CEIL  %s; pgbench %.0f tps; HTTP edge and database together at most %.0f req/s\n",
			strings.Join(ceiling, ", "), pgb, 1/(1/ceilRPS[1]+1/pgb))
	}
	if len(w5) > 0 {
		m3, m5 := median(w3b), median(w5)
		fmt.Printf("W5  %d tenants: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d; W5/W3 p99 %.3f, W5/W3 req/s %.3f (W3 in the same run: %.0f req/s, p99 %.2f ms)\n",
			o.w5, m5.rps(), ms(m5.P50), ms(m5.P99), sumNon2xx(w5), float64(m5.P99)/float64(m3.P99), m5.rps()/m3.rps(), m3.rps(), ms(m3.P99))
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

// interleave runs W3 and another server's workload alternately, o.runs
// times each, so that their ratio is measured in the same run. mem is the
// database's peak during the W3 runs.
func interleave(ctx context.Context, o options, cl *pgcluster.Cluster, w3srv, other *server, tenants int, w3Label, otherLabel string) (w3, rs []wrkResult, mem pgMem, err error) {
	for i := range o.runs {
		r, m, err := load(ctx, o, w3srv, 100, cl)
		if err != nil {
			return nil, nil, mem, err
		}
		mem = mem.max(m)
		w3 = append(w3, r)
		logf("W3 run %d%s: %s", i+1, w3Label, r)
		if r, _, err = load(ctx, o, other, tenants, cl); err != nil {
			return nil, nil, mem, err
		}
		rs = append(rs, r)
		logf("%s run %d: %s", otherLabel, i+1, r)
	}
	return w3, rs, mem, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// ---- seeding -------------------------------------------------------------

// seed creates database name (owned by a login role of the same name) with
// n tenants t0001…, each with 10 hotels × 3 rooms whose names contain the
// slug, plus a schema "single" with the same tables and 10 hotels for W6.
// A database seeded before is reused.
func seed(ctx context.Context, admin string, cl *pgcluster.Cluster, name string, n int) (string, error) {
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
			pool.Close()
			if err == nil && seeded == n {
				logf("%s: reusing %d seeded tenants", name, n)
				return url, nil
			}
		}
		if _, err := ac.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return "", err
		}
		rows, _ := ac.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1", name+"\\_%")
		roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, r := range roles {
			if _, err := ac.Exec(ctx, "DROP ROLE "+pgx.Identifier{r}.Sanitize()); err != nil {
				return "", err
			}
		}
	}
	for _, q := range []string{
		"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + name + "') THEN CREATE ROLE " + name + " LOGIN CREATEROLE; END IF; END$$",
		"CREATE DATABASE " + name + " OWNER " + name + " TEMPLATE template0",
	} {
		if _, err := ac.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	{
		dc, err := pgx.Connect(ctx, cl.URL(pgcluster.Superuser, name))
		if err != nil {
			return "", err
		}
		_, err = dc.Exec(ctx, "ALTER SCHEMA public OWNER TO "+name)
		dc.Close(ctx)
		if err != nil {
			return "", err
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return "", err
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: quiet})
	if err != nil {
		return "", err
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		return "", err
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: quiet})
	start := time.Now()
	logf("%s: creating %d tenants through the registry", name, n)
	jobs := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("t%04d", i)
				_, err := reg.Create(ctx, condo.CreateParams{
					Slug: slug, Name: "Tenant " + slug, Domains: []string{slug + ".example.test"},
					OnCreated: func(ctx context.Context, tx pgx.Tx, t *condo.Tenant) error {
						if _, err := tx.Exec(ctx, seedSQL(slug)); err != nil {
							return err
						}
						// W3 reads the public directory, off by default.
						return web.SetDirectoryTx(ctx, tx, true)
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
			return "", err
		}
		if i%1000 == 0 {
			logf("%s: %d tenants (%.0f s)", name, i, time.Since(start).Seconds())
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return "", err
	default:
	}
	// The table W6 reads: the same tables in one schema, no tenancy.
	if _, err := pool.Exec(ctx, "CREATE SCHEMA single; SET search_path TO single; "+migrationSQL()+"; "+seedSQL("single")+"; RESET search_path"); err != nil {
		return "", fmt.Errorf("single schema: %w", err)
	}
	// _v2: databases seeded before the public directory became a per-tenant
	// setting (off by default) are seeded again, with it on.
	if _, err := pool.Exec(ctx, "CREATE TABLE public.bench_seeded_v2 (n int); INSERT INTO public.bench_seeded_v2 VALUES ("+strconv.Itoa(n)+")"); err != nil {
		return "", err
	}
	logf("%s: seeded %d tenants in %.1f s; VACUUM (ANALYZE), CHECKPOINT", name, n, time.Since(start).Seconds())
	dc, err := pgx.Connect(ctx, cl.URL(pgcluster.Superuser, name))
	if err != nil {
		return "", err
	}
	defer dc.Close(context.Background())
	for _, q := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if _, err := dc.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	return url, nil
}

func seedSQL(slug string) string {
	return `INSERT INTO hotel (name, city, stars)
SELECT '` + slug + ` Hotel ' || g, (ARRAY['Lisbon','Porto','Madrid','Paris','Berlin'])[1 + g % 5], 1 + g % 5
FROM generate_series(1, 10) g;
INSERT INTO room (hotel_id, number, beds, price)
SELECT h.id, r::text, 1 + r % 3, 80 + 10 * r FROM hotel h, generate_series(1, 3) r`
}

func migrationSQL() string {
	b, err := fsRead(migrations.Tenant(), "0001_hotels.sql")
	if err != nil {
		panic(err)
	}
	return b
}

// ---- the server under test ---------------------------------------------

type server struct {
	cmd    *exec.Cmd
	addr   string
	scheme string // http, or https for W7
	name   string
	pprof  string
	pooler int // pid of the PgBouncer in front of its database (W8), 0 if none
	runs   int
	done   chan struct{}
}

func startServer(ctx context.Context, o options, dbURL, mode, name string, extra ...string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(o.out, name+"-server.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-db", o.dbURL(dbURL), "-mode", mode, "-addr", addr, "-db-conns", strconv.Itoa(o.dbConns)}
	args = append(args, extra...)
	s := &server{addr: addr, scheme: "http", done: make(chan struct{}), name: name}
	client := http.DefaultClient
	if slices.Contains(extra, "-tls-cert") {
		s.scheme = "https"
		// The harness's own self-signed certificate.
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	if o.profile {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.pprof = pl.Addr().String()
		pl.Close()
		args = append(args, "-pprof", s.pprof)
	}
	cmd := exec.Command(self, append(args, o.extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.scheme + "://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("server %s exited; see %s", name, logFile.Name())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// peakRSS is the server's high-water resident set (VmHWM), in bytes.
func (s *server) peakRSS() int64 {
	return procStatus(s.cmd.Process.Pid, "VmHWM:")
}

// ---- load -----------------------------------------------------------------

type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	ErrConnect int64   `json:"err_connect"`
	ErrRead    int64   `json:"err_read"`
	ErrWrite   int64   `json:"err_write"`
	ErrStatus  int64   `json:"err_status"`
	ErrTimeout int64   `json:"err_timeout"`
	P50        int64   `json:"lat_p50_us"`
	P90        int64   `json:"lat_p90_us"`
	P99        int64   `json:"lat_p99_us"`
	Mean       float64 `json:"lat_mean_us"`
	Max        int64   `json:"lat_max_us"`

	// CPU per request of the server process and of PostgreSQL during the
	// run (set by load): steadier than req/s when other work shares the
	// cores.
	serverUS, pgUS float64
}

func (r wrkResult) rps() float64 { return float64(r.Requests) / (float64(r.DurationUS) / 1e6) }
func (r wrkResult) errors() int64 {
	return r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrTimeout
}
func (r wrkResult) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, non-2xx %d, errors %d",
		r.rps(), ms(r.P50), ms(r.P99), ms(r.Max), r.ErrStatus, r.errors())
}

func ms(us int64) float64 { return float64(us) / 1000 }

// load runs a warm-up and then one measured wrk run against s, sampling
// PostgreSQL's memory meanwhile.
func load(ctx context.Context, o options, s *server, tenants int, cl *pgcluster.Cluster) (wrkResult, pgMem, error) {
	if o.warmup > 0 {
		if _, err := wrk(ctx, o, s.scheme+"://"+s.addr, tenants, o.warmup); err != nil {
			return wrkResult{}, pgMem{}, err
		}
	}
	var peak pgMem
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = peak.max(postgresMem(filepath.Join(o.out, "pg"), false))
			}
		}
	})
	if s.pprof != "" {
		s.runs++
		path := filepath.Join(o.out, fmt.Sprintf("%s-cpu-%d.pprof", s.name, s.runs))
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, max(int(o.duration.Seconds())-2, 1)))
			if err != nil {
				logf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(path)
			if err == nil {
				_, _ = io.Copy(f, resp.Body)
				f.Close()
			}
		})
	}
	before := cpuTimes(s.cmd.Process.Pid, s.pooler, filepath.Join(o.out, "pg"))
	r, err := wrk(ctx, o, s.scheme+"://"+s.addr, tenants, o.duration)
	after := cpuTimes(s.cmd.Process.Pid, s.pooler, filepath.Join(o.out, "pg"))
	close(stop)
	wg.Wait()
	// PSS (smaps_rollup) walks every page table of every backend: ~10 % of
	// the CPU when sampled during W5, so it is read once, after the run,
	// when the backends' memory is still at its peak (it is not given back).
	end := postgresMem(filepath.Join(o.out, "pg"), true)
	peak = peak.max(end)
	peak.pss = end.pss
	reqs := float64(r.Requests)
	r.serverUS = (after.server - before.server) / reqs * 1e6
	pgCPU := after.postgresSince(before)
	r.pgUS = pgCPU / reqs * 1e6
	pooler := ""
	if s.pooler != 0 {
		pooler = fmt.Sprintf("pgbouncer %.1f s (%.0f µs/request), ", after.pooler-before.pooler, (after.pooler-before.pooler)/reqs*1e6)
	}
	logf("CPU during the run: server %.1f s (%.0f µs/request), postgres %.1f s (%.0f µs/request), %swrk and everything else %.1f s, of %.0f s",
		after.server-before.server, (after.server-before.server)/reqs*1e6, pgCPU, r.pgUS,
		pooler, after.total-before.total-(after.server-before.server)-pgCPU-(after.pooler-before.pooler),
		o.duration.Seconds()*float64(runtime.NumCPU()))
	return r, peak, err
}

func wrk(ctx context.Context, o options, base string, tenants int, d time.Duration) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "-s", o.lua, base, "--", strconv.Itoa(tenants))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	if f, err := os.OpenFile(filepath.Join(o.out, "wrk.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "== %s %s %d tenants\n%s\n", time.Now().Format(time.TimeOnly), base, tenants, out)
		f.Close()
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "WRK "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return wrkResult{}, fmt.Errorf("wrk output: %w", err)
			}
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("wrk printed no WRK line: %s", out)
}

// checkSample fetches n responses for random tenants and checks that every
// hotel belongs to the Host's tenant.
func checkSample(ctx context.Context, addr string, tenants, n int) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		slug := fmt.Sprintf("t%04d", 1+rand.IntN(tenants))
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/hotels/", nil)
		req.Host = slug + ".example.test"
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var hotels []struct {
			ID    int64  `json:"id"`
			Name  string `json:"name"`
			City  string `json:"city"`
			Stars int    `json:"stars"`
		}
		err = json.NewDecoder(resp.Body).Decode(&hotels)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			return fmt.Errorf("response %d for %s: status %d, %v", i, slug, resp.StatusCode, err)
		}
		if len(hotels) != 10 {
			return fmt.Errorf("response %d for %s: %d hotels, want 10", i, slug, len(hotels))
		}
		for _, h := range hotels {
			if !strings.HasPrefix(h.Name, slug+" ") {
				return fmt.Errorf("response %d for %s: WRONG TENANT hotel %q", i, slug, h.Name)
			}
		}
	}
	logf("checked %d responses across %d tenants: 0 wrong-tenant rows", n, tenants)
	return nil
}

// pgbench measures the database's own throughput for W6's SELECT at the
// same concurrency, prepared, over TCP on loopback like the server.
func pgbench(ctx context.Context, o options, dbURL string) (float64, error) {
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		return 0, err
	}
	exe := filepath.Join(bin, "pgbench")
	if _, err := os.Stat(exe); err != nil {
		if exe, err = exec.LookPath("pgbench"); err != nil {
			return 0, errors.New("pgbench not found")
		}
	}
	script := filepath.Join(o.out, "w6.sql")
	if err := os.WriteFile(script, []byte("SELECT id, name, city, stars FROM single.hotel ORDER BY id;\n"), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, exe, "-n", "-M", "prepared", "-c", strconv.Itoa(o.conns), "-j", strconv.Itoa(o.threads),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-f", script, o.dbURL(dbURL))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "tps = "); ok {
			f := strings.Fields(rest)
			tps, err := strconv.ParseFloat(f[0], 64)
			if err == nil {
				logf("pgbench (same SELECT, -c %d -j %d, prepared): %.0f tps", o.conns, o.threads, tps)
				return tps, nil
			}
		}
	}
	return 0, fmt.Errorf("pgbench output: %s", out)
}

// ---- memory -----------------------------------------------------------------

type pgMem struct {
	rss, pss int64
	procs    int
}

func (a pgMem) max(b pgMem) pgMem {
	if b.rss > a.rss {
		return b
	}
	return a
}

// postgresMem sums RSS, and PSS when pss is set, over the cluster's
// processes (the postmaster and its children).
func postgresMem(pgDir string, pss bool) pgMem {
	var m pgMem
	for _, pid := range clusterPids(pgDir) {
		m.rss += procStatus(pid, "VmRSS:")
		if pss {
			m.pss += smapsRollup(pid, "Pss:")
		}
		m.procs++
	}
	return m
}

type cpuSample struct {
	server, pooler, total float64
	pg                    map[int]float64 // CPU seconds of each of the cluster's processes
}

// postgresSince is the CPU the cluster's processes used since b: summed
// over the processes alive at both samples, so that an autovacuum worker or
// a replaced connection that exits during the run does not take its whole
// lifetime's CPU off the total (a negative figure) or add it.
func (a cpuSample) postgresSince(b cpuSample) float64 {
	var n float64
	for pid, t := range a.pg {
		if t0, ok := b.pg[pid]; ok {
			n += t - t0
		}
	}
	return n
}

// clusterPids returns the bench cluster's postmaster and its children
// (other PostgreSQL servers on the machine, such as test clusters, are not
// counted).
func clusterPids(pgDir string) []int {
	b, err := os.ReadFile(filepath.Join(pgDir, "data", "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	pids := []int{pm}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		if procStatus(pid, "PPid:")>>10 == int64(pm) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuTimes reads the CPU seconds used so far by the server, by the bench
// cluster's processes (live ones; backends are long-lived here), and by
// the whole machine (from /proc/stat).
func cpuTimes(serverPid, poolerPid int, pgDir string) cpuSample {
	c := cpuSample{pg: map[int]float64{}}
	c.server = procCPU(serverPid)
	if poolerPid != 0 {
		c.pooler = procCPU(poolerPid)
	}
	for _, pid := range clusterPids(pgDir) {
		c.pg[pid] = procCPU(pid)
	}
	b, _ := os.ReadFile("/proc/stat")
	if line, _, ok := strings.Cut(string(b), "\n"); ok {
		f := strings.Fields(line)
		// user nice system idle iowait irq softirq steal: busy = all but idle, iowait.
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i > 7 {
				continue
			}
			n, _ := strconv.ParseFloat(v, 64)
			c.total += n / 100
		}
	}
	return c
}

func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

func procStatus(pid int, key string) int64 { return kbField(fmt.Sprintf("/proc/%d/status", pid), key) }
func smapsRollup(pid int, key string) int64 {
	return kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), key)
}

func kbField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// ---- statistics -----------------------------------------------------------

func median(rs []wrkResult) wrkResult {
	s := slices.Clone(rs)
	sort.Slice(s, func(i, j int) bool { return s[i].rps() < s[j].rps() })
	m := s[len(s)/2]
	p99 := make([]int64, len(rs))
	p50 := make([]int64, len(rs))
	for i, r := range rs {
		p99[i], p50[i] = r.P99, r.P50
	}
	slices.Sort(p99)
	slices.Sort(p50)
	m.P99, m.P50 = p99[len(p99)/2], p50[len(p50)/2]
	return m
}

func medianRatio(a, b []wrkResult) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		rs = append(rs, a[i].rps()/b[i].rps())
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func sumNon2xx(rs []wrkResult) (n int64) {
	for _, r := range rs {
		n += r.ErrStatus
	}
	return n
}

func sumErrors(rs []wrkResult) (n int64) {
	for _, r := range rs {
		n += r.errors()
	}
	return n
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

func pgVersion(ctx context.Context, url string) string {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return "PostgreSQL ?"
	}
	defer c.Close(ctx)
	var v string
	_ = c.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return "PostgreSQL " + v
}

// wildcardCert writes a self-signed ECDSA P-256 certificate for base and
// *.base (what condocert obtains over DNS-01 in production) to dir, and
// returns the certificate and key files.
func wildcardCert(dir, base string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "*." + base},
		DNSNames:     []string{"*." + base, base},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "w7-cert.pem"), filepath.Join(dir, "w7-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
