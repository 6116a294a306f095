package condocli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condostack"
)

// ErrDoctorFailed is returned by the doctor command when at least one check
// failed (the command then exits non-zero).
var ErrDoctorFailed = errors.New("deployment has problems")

// checkStatus is a check's verdict, in rising order of gravity.
type checkStatus int

const (
	statusOK checkStatus = iota
	statusSkip
	statusWarn
	statusFail
)

func (s checkStatus) String() string {
	return [...]string{"ok", "skip", "warn", "FAIL"}[s]
}

// checkResult is one line of doctor's report: what was checked, the
// verdict, and a sentence saying what was found and, when it is not ok,
// what to do.
type checkResult struct {
	name   string
	status checkStatus
	msg    string
}

func okf(name, format string, args ...any) checkResult {
	return checkResult{name, statusOK, fmt.Sprintf(format, args...)}
}

func warnf(name, format string, args ...any) checkResult {
	return checkResult{name, statusWarn, fmt.Sprintf(format, args...)}
}

func failf(name, format string, args ...any) checkResult {
	return checkResult{name, statusFail, fmt.Sprintf(format, args...)}
}

// doctorFlags describe the deployment being checked: what serve will be
// started with, and how many instances share the database.
type doctorFlags struct {
	instances   int
	dbConns     int
	tenantPools int
	httpsAddr   string
	acmeEmail   string
	certFile    string
	certKeyFile string
}

// dbFacts is what one query tells about the server and the login role.
type dbFacts struct {
	version     string // e.g. "18.4"
	versionNum  int    // e.g. 180004
	user, db    string
	superuser   bool
	createRole  bool
	connLimit   int // -1: none
	ownsDB      bool
	ownsPublic  bool
	createInDB  bool // may create schemas
	createInPub bool // may create tables in public
	dbOwner     string
	maxConns    int
	reserved    int  // superuser_reserved_connections + reserved_connections (16+)
	inUse       int  // client backends connected now
	citus       bool // a Citus coordinator: serve opens tenant pools by default
	skew        time.Duration
	skewError   time.Duration // half the query's round trip: the measure's uncertainty
}

const factsSQL = `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
	current_user, current_database(), r.rolsuper, r.rolcreaterole, r.rolconnlimit,
	d.datdba = r.oid, pg_has_role(n.nspowner, 'MEMBER'),
	has_database_privilege(current_database(), 'CREATE'), has_schema_privilege('public', 'CREATE'),
	pg_get_userbyid(d.datdba),
	current_setting('max_connections')::int,
	current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0),
	(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
	EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')
FROM pg_roles r, pg_database d, pg_namespace n
WHERE r.rolname = current_user AND d.datname = current_database() AND n.nspname = 'public'`

func newDoctorCmd(c *CLI) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment and say what is wrong",
		Long: `Check the database and the configuration a deployment runs with, one line
per check: ok, warn or FAIL, with what to do about it. Exits non-zero when a
check fails.

Checks: the PostgreSQL version, the login role's privileges, whether
max_connections fits --instances servers with --db-conns connections each,
pending migrations, the certificate storage key when HTTPS is configured,
the clock difference between this machine and the database, the pooler, and
how many tenant roles one role takes or administers against the limits
measured for the server's version.
Give it the flags (or CONDO_* variables) that serve runs with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.doctor(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	env := func(name, def string) string { return cmp.Or(c.cfg.Getenv(name), def) }
	fl := cmd.Flags()
	fl.IntVar(&f.instances, "instances", cmp.Or(envInt(c.cfg.Getenv("CONDO_INSTANCES")), 1), "server instances that share the database [CONDO_INSTANCES]")
	fl.IntVar(&f.dbConns, "db-conns", cmp.Or(envInt(c.cfg.Getenv(dbConnsEnv)), defaultDBConns), "serve's --db-conns [CONDO_DB_CONNS]")
	fl.IntVar(&f.tenantPools, "tenant-pools", envInt(c.cfg.Getenv("CONDO_TENANT_POOLS")), "serve's --tenant-pools [CONDO_TENANT_POOLS]")
	fl.StringVar(&f.httpsAddr, "https", env("CONDO_HTTPS_ADDR", ""), "serve's --https [CONDO_HTTPS_ADDR]")
	fl.StringVar(&f.acmeEmail, "acme-email", "", "serve's --acme-email (automatic certificates)")
	fl.StringVar(&f.certFile, "cert-file", env("CONDO_CERT_FILE", ""), "serve's --cert-file [CONDO_CERT_FILE]")
	fl.StringVar(&f.certKeyFile, "cert-key-file", "", "file with the certificate storage key (default $"+condocert.KeyEnv+")")
	return cmd
}

// doctor runs every check, prints one line each, and returns
// [ErrDoctorFailed] when one failed.
func (c *CLI) doctor(ctx context.Context, out io.Writer, f doctorFlags) error {
	if f.instances < 1 || f.dbConns < 1 || f.tenantPools < 0 {
		return fmt.Errorf("--instances and --db-conns must be at least 1 and --tenant-pools at least 0, got %d, %d and %d", f.instances, f.dbConns, f.tenantPools)
	}
	var results []checkResult
	report := func(r checkResult) {
		results = append(results, r)
		// One line per check, even for a multi-line driver error.
		fmt.Fprintf(out, "%-4s  %s: %s\n", r.status, r.name, strings.Join(strings.Fields(r.msg), " "))
	}
	st, err := c.Open(ctx)
	var facts *dbFacts
	if err == nil {
		facts, err = readFacts(ctx, st)
	}
	if err != nil {
		// Open's errors name the URL that failed ("direct database url: …").
		report(failf("database", "cannot connect or query: %v; check DATABASE_URL (or --database-url), CONDO_DIRECT_DATABASE_URL (or --direct-database-url) when set, and that the server is up", err))
	} else {
		report(checkVersion(facts))
		report(checkRole(facts))
		report(checkOwnership(facts))
		if st.Pooler != nil && st.Pooler.Mode.NeedsDirect() {
			report(checkConnectionsPooled(facts, f))
		} else {
			report(checkConnections(facts, f))
		}
		for _, r := range checkMigrations(ctx, st.Migrator, st.Registry, c.cfg.Name) {
			report(r)
		}
		report(checkClock(facts))
		report(checkPooler(ctx, st))
		report(checkBlastRadius(ctx, st))
		if r, ok := checkCitus(ctx, st); ok {
			report(r)
		}
		report(checkTenantRoles(ctx, st))
		report(checkCatalog(ctx, st))
		report(checkPending(ctx, st))
		report(checkOrphanDatabases(ctx, st))
		if r, ok := checkMoves(ctx, st); ok {
			report(r)
		}
		for _, r := range checkServers(ctx, st) {
			report(r)
		}
	}
	report(c.checkCertKey(ctx, st, f))

	var fails, warns int
	for _, r := range results {
		switch r.status {
		case statusFail:
			fails++
		case statusWarn:
			warns++
		}
	}
	fmt.Fprintf(out, "%d failed, %d warning(s), %d check(s)\n", fails, warns, len(results))
	if fails > 0 {
		return fmt.Errorf("%d check(s) failed: %w", fails, ErrDoctorFailed)
	}
	return nil
}

// readFacts asks the server about itself and the login role in one query,
// then measures the clock difference.
func readFacts(ctx context.Context, st *condostack.Stack) (*dbFacts, error) {
	var d dbFacts
	err := st.Pool.QueryRow(ctx, factsSQL).Scan(&d.version, &d.versionNum, &d.user, &d.db,
		&d.superuser, &d.createRole, &d.connLimit, &d.ownsDB, &d.ownsPublic, &d.createInDB, &d.createInPub,
		&d.dbOwner, &d.maxConns, &d.reserved, &d.inUse, &d.citus)
	if err != nil {
		return nil, err
	}
	// The version string may carry a suffix ("15.8 (Debian 15.8-1)").
	d.version, _, _ = strings.Cut(d.version, " ")
	// The server's clock_timestamp() against the middle of the round trip
	// here, on the connection the query above opened; of three samples the
	// one with the shortest round trip, the least uncertain.
	for range 3 {
		var serverNow time.Time
		start := time.Now()
		if err := st.Pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&serverNow); err != nil {
			return nil, err
		}
		rtt := time.Since(start)
		if d.skewError == 0 || rtt/2 < d.skewError {
			d.skew, d.skewError = serverNow.Sub(start.Add(rtt/2)), rtt/2
		}
	}
	return &d, nil
}

// minVersion is the oldest PostgreSQL Condo supports and tests.
const minVersion = 150000

func checkVersion(d *dbFacts) checkResult {
	const name = "server version"
	switch {
	case d.versionNum < minVersion:
		return failf(name, "PostgreSQL %s is older than 15, the oldest Condo supports; upgrade the server", d.version)
	case d.versionNum < 160000:
		return okf(name, "PostgreSQL %s (supported; 16 and newer add role grants WITH INHERIT FALSE, SET TRUE, so the login role can switch to a tenant's role without holding its privileges)", d.version)
	default:
		return okf(name, "PostgreSQL %s", d.version)
	}
}

func checkRole(d *dbFacts) checkResult {
	const name = "login role"
	switch {
	case d.superuser:
		return warnf(name, "%s is a superuser, which skips every privilege check, so the database no longer enforces the walls between tenants; production should log in as a role with CREATEROLE that owns the database (what RDS, Cloud SQL, Azure, Supabase and Neon give)", d.user)
	case !d.createRole:
		return failf(name, "%s lacks CREATEROLE, so Condo cannot create tenant roles; as an administrator run: ALTER ROLE %s CREATEROLE", d.user, d.user)
	default:
		return okf(name, "%s has CREATEROLE and is not a superuser", d.user)
	}
}

func checkOwnership(d *dbFacts) checkResult {
	const name = "ownership"
	switch {
	case d.superuser:
		return okf(name, "%s is a superuser (may create anything)", d.user)
	case !d.createInDB:
		return failf(name, "%s may not create schemas in database %s, so tenants cannot be created; as an administrator run: ALTER DATABASE %s OWNER TO %s", d.user, d.db, d.db, d.user)
	case !d.createInPub:
		return failf(name, "%s may not create tables in schema public, so shared migrations fail; as an administrator run: ALTER SCHEMA public OWNER TO %s", d.user, d.user)
	case !d.ownsDB || !d.ownsPublic:
		return warnf(name, "%s may create schemas and shared tables but does not own database %s (owner %s) or its public schema; Condo works, but objects others created there may not be altered by migrations", d.user, d.db, d.dbOwner)
	default:
		return okf(name, "%s owns database %s and its public schema", d.user, d.db)
	}
}

// perInstance is how many server connections one serve process may open
// with these flags on this server: its pool (--db-conns), the
// tenant-affine pools (--db-conns more when --tenant-pools is set, and
// always on a Citus coordinator, where condostack opens them by default)
// and the resolver's LISTEN connection.
func perInstance(d *dbFacts, f doctorFlags) int {
	n := f.dbConns + 1
	if f.tenantPools > 0 || d.citus {
		n += f.dbConns
	}
	return n
}

func checkConnections(d *dbFacts, f doctorFlags) checkResult {
	const name = "connections"
	per := perInstance(d, f)
	need := f.instances * per
	limit, why := connLimit(d)
	plan := fmt.Sprintf("%d instance(s) × %d (--db-conns %d", f.instances, per, f.dbConns)
	switch {
	case f.tenantPools > 0:
		plan += fmt.Sprintf(", %d more for --tenant-pools", f.dbConns)
	case d.citus:
		plan += fmt.Sprintf(", %d more for the tenant pools serve opens on Citus", f.dbConns)
	}
	plan += ", 1 listener)"
	switch {
	case need > limit:
		return failf(name, "%s = %d, but the server takes %d (%s); lower --db-conns, raise max_connections, or put PgBouncer in front", plan, need, limit, why)
	case need*10 > limit*8:
		return warnf(name, "%s = %d of %d (%s): little room left for migrations, the admin and monitoring; %d in use now", plan, need, limit, why, d.inUse)
	default:
		return okf(name, "%s = %d of %d (%s); %d in use now", plan, need, limit, why, d.inUse)
	}
}

// connLimit is how many connections the server takes from the login
// role, and why.
func connLimit(d *dbFacts) (int, string) {
	limit, why := d.maxConns, fmt.Sprintf("max_connections %d", d.maxConns)
	if !d.superuser {
		limit -= d.reserved
		why += fmt.Sprintf(" minus %d reserved", d.reserved)
	}
	if d.connLimit >= 0 && d.connLimit < limit {
		limit, why = d.connLimit, fmt.Sprintf("the connection limit of role %s", d.user)
	}
	return limit, why
}

// checkConnectionsPooled is checkConnections behind a transaction pooler:
// --db-conns are connections to the pooler, and PostgreSQL sees the
// pooler's own server connections (its default_pool_size, which Condo
// cannot read) plus each instance's listener on the direct URL.
func checkConnectionsPooled(d *dbFacts, f doctorFlags) checkResult {
	const name = "connections"
	limit, why := connLimit(d)
	if f.instances >= limit {
		return failf(name, "behind a transaction pooler: %d instance(s) × 1 listener on the direct URL = %d, but the server takes %d (%s)", f.instances, f.instances, limit, why)
	}
	return okf(name, "behind a transaction pooler: --db-conns are connections to the pooler; PostgreSQL takes %d (%s): keep the pooler's default_pool_size plus %d instance(s) × 1 listener on the direct URL under it; %d in use now", limit, why, f.instances, d.inUse)
}

// checkMigrations reports the shared line and the tenants (counted by the
// registry, store). name is the command's name, for the advice.
func checkMigrations(ctx context.Context, m *condomigrate.Migrator, store condomigrate.TenantStore, name string) []checkResult {
	st, err := m.Status(ctx, store)
	switch {
	case errors.Is(err, condomigrate.ErrChecksumMismatch) || errors.Is(err, condomigrate.ErrUnknownVersion):
		return []checkResult{failf("migrations", "the migration files and the database disagree (%v): an applied migration was edited, or this binary is older than the database", err)}
	case err != nil:
		return []checkResult{failf("migrations", "cannot read the migration state: %v", err)}
	}
	var shared, tenants checkResult
	if n := len(st.SharedPending); n > 0 {
		names := make([]string, 0, min(n, 3))
		for _, p := range st.SharedPending[:min(n, 3)] {
			names = append(names, fmt.Sprintf("%s %d_%s", p.Line, p.Version, p.Name))
		}
		if n > 3 {
			names = append(names, "…")
		}
		shared = failf("shared migrations", "%d pending (%s); run `%s migrate` before serving", n, strings.Join(names, ", "), name)
	} else {
		shared = okf("shared migrations", "up to date")
	}
	switch {
	case st.TenantsBehind > 0 && st.PendingBehind > 0:
		tenants = failf("tenant migrations", "%d of %d tenant(s) behind version %d (%d of them pending, not yet claimed); run `%s migrate --tenants`", st.TenantsBehind, st.Tenants, st.TenantLatest, st.PendingBehind, name)
	case st.TenantsBehind > 0:
		tenants = failf("tenant migrations", "%d of %d tenant(s) behind version %d; run `%s migrate --tenants`", st.TenantsBehind, st.Tenants, st.TenantLatest, name)
	default:
		tenants = okf("tenant migrations", "%d tenant(s) at version %d", st.Tenants, st.TenantLatest)
	}
	return []checkResult{shared, tenants}
}

// Clock differences beyond these are worth a warning and a failure:
// certificate renewal, sessions, invitations and paid-until dates compare
// times taken here with times taken by the database.
const (
	skewWarn = time.Second
	skewFail = 30 * time.Second
)

func checkClock(d *dbFacts) checkResult {
	const name = "clock"
	abs, dir := d.skew, "ahead of"
	if abs < 0 {
		abs, dir = -abs, "behind"
	}
	rounded := abs.Round(time.Millisecond)
	switch {
	case abs-d.skewError > skewFail:
		return failf(name, "the database's clock is %s %s this machine's; sessions, invitations and certificate renewals compare the two: synchronise both with NTP", rounded, dir)
	case abs-d.skewError > skewWarn:
		return warnf(name, "the database's clock is %s %s this machine's; synchronise both with NTP", rounded, dir)
	default:
		return okf(name, "this machine and the database agree within %s", max(rounded, (d.skewError*2).Round(time.Millisecond), time.Millisecond))
	}
}

// checkPooler says what sits between the application's URL and
// PostgreSQL (configured with --pooler, or detected when the database was
// opened: [condo.DetectPooler]) and, behind a transaction pooler, whether
// the direct URL that LISTEN and migrations need is set and answers. A
// statement pooler never gets here: opening the database refuses it.
func checkPooler(ctx context.Context, st *condostack.Stack) checkResult {
	const name = "pooler"
	p := st.Pooler
	if p == nil {
		return checkResult{name, statusSkip, "not checked"}
	}
	separate := st.Direct != nil && st.Direct != st.Pool
	if separate {
		if err := st.Direct.Ping(ctx); err != nil {
			return failf(name, "%s; the direct URL (CONDO_DIRECT_DATABASE_URL or --direct-database-url) does not answer: %v", p, err)
		}
	}
	switch p.Mode {
	case condo.PoolerTransaction:
		if st.Direct == nil {
			hint := ""
			if p.Assumed {
				hint = ", or CONDO_POOLER=none (or session) if nothing in between pools transactions"
			}
			return failf(name, "transaction pooler, %s; serve and migrate need a direct connection for LISTEN and the migration lock and will not start: set CONDO_DIRECT_DATABASE_URL (or --direct-database-url) to PostgreSQL itself%s", describePooler(p), hint)
		}
		return okf(name, "transaction pooler, %s; queries use no named prepared statements, and migrations and LISTEN use the direct URL", describePooler(p))
	case condo.PoolerSession:
		return okf(name, "session pooler, %s: it works as a direct connection", describePooler(p))
	default:
		if separate {
			return okf(name, "direct connection, %s; the direct URL is set too", describePooler(p))
		}
		return okf(name, "direct connection, %s", describePooler(p))
	}
}

// describePooler says how the pooler mode was decided.
func describePooler(p *condo.PoolerInfo) string {
	switch {
	case p.Reason == "configured":
		return "as configured (--pooler or CONDO_POOLER)"
	case p.Assumed:
		return "assumed: " + p.Reason
	default:
		return "detected: " + p.Reason
	}
}

// checkCertKey checks the certificate storage key when HTTPS with
// automatic certificates is configured: present, well formed, and opening
// what the database already holds. env may be nil (no database).
func (c *CLI) checkCertKey(ctx context.Context, st *condostack.Stack, f doctorFlags) checkResult {
	const name = "certificate key"
	acme := f.acmeEmail != ""
	key, err := condocert.LoadKey(f.certKeyFile, c.cfg.Getenv)
	switch {
	case errors.Is(err, condocert.ErrNoKey) && acme:
		return failf(name, "automatic HTTPS (--acme-email) stores private keys encrypted in the database, and no key is set; make one with `%s certs genkey`, keep it safe, and give it to every instance as $%s or --cert-key-file", c.cfg.Name, condocert.KeyEnv)
	case errors.Is(err, condocert.ErrNoKey) && f.httpsAddr != "" && f.certFile == "":
		return warnf(name, "--https without --acme-email or --cert-file: serve needs certificates from one of them (or from the application); with ACME it also needs $%s", condocert.KeyEnv)
	case errors.Is(err, condocert.ErrNoKey):
		return okf(name, "not needed (no automatic HTTPS configured)")
	case err != nil:
		return failf(name, "%v; make a new one with `%s certs genkey`", err, c.cfg.Name)
	}
	if st == nil {
		return okf(name, "set (not compared with the stored certificates: no database)")
	}
	storage, err := condocert.NewStorage(st.Pool, &condocert.StorageConfig{EncryptionKey: key})
	if err != nil {
		return failf(name, "%v", err)
	}
	n, err := storage.CheckKey(ctx)
	switch {
	case errors.Is(err, condocert.ErrWrongKey):
		return failf(name, "the key does not open the certificates stored in the database (%s): it is not the key they were stored with; use that one, or `%s certs rotate-key` with both", plural(n, "encrypted value"), c.cfg.Name)
	case err != nil:
		return failf(name, "cannot read the certificate storage: %v", err)
	case n == 0:
		return okf(name, "set (nothing stored yet)")
	default:
		return okf(name, "set, and opens the %s stored", plural(n, "encrypted value"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
