package main

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// blastModes are the database set-ups of the README's blast-radius table.
var blastModes = []struct {
	name string
	opts condotest.DatabaseOpts
}{
	{"before", condotest.DatabaseOpts{Unhardened: true}}, // as shipped before: set_config for everyone, one role
	{"single", condotest.DatabaseOpts{}},                 // hardened, one role
	{"split", condotest.DatabaseOpts{Runtime: true}},     // hardened, runtime role for tenant transactions
}

// blastProbe is one thing an SQL injection in tenant code may try to
// reach. sql runs after leaving the tenant role: for "one statement" inside
// query_to_xml behind set_config('role', …) in a single extended-protocol
// statement (QueryTenant), for "stacked" after RESET ROLE (and SET ROLE to
// the other tenant when asOther) through the simple protocol, in
// InTenantTx (pgx.QueryExecModeSimpleProtocol: InTx's tx.Exec alone
// refuses several statements).
type blastProbe struct {
	sql     string
	asOther bool
	// reach lists, per mode, whether "one statement" and "stacked" get
	// through; pg16 overrides it on PostgreSQL 16 and later.
	reach, pg16 map[string][2]bool
	// shared is whether an injection in the app's shared-table code (the
	// accounts store, on condo.SharedPool as the shared role) gets
	// through in one statement and stacked, with split roles. sharedOne,
	// when set, is the one statement to try there instead of sql.
	shared    [2]bool
	sharedOne string
}

var (
	everywhere = map[string][2]bool{"before": {true, true}, "single": {false, true}, "split": {false, true}}
	ownerOnly  = map[string][2]bool{"before": {true, true}, "single": {false, true}, "split": {false, false}}
	// sharedToo: with split roles, stacked statements in tenant code reach
	// the app's shared grants (RESET ROLE; SET ROLE to the shared role).
	sharedToo = map[string][2]bool{"before": {true, true}, "single": {false, true}, "split": {false, true}}
	ddlOwner  = map[string][2]bool{"before": {false, true}, "single": {false, true}, "split": {false, false}}
	nowhere   = map[string][2]bool{"before": {false, false}, "single": {false, false}, "split": {false, false}}
)

// TestBlastRadius backs every cell of the README's blast-radius table: for
// each set-up it runs every probe as the tenant acme and asserts whether
// it got through. Run it on PostgreSQL 15 and 18.
func TestBlastRadius(t *testing.T) {
	t.Parallel()
	for _, mode := range blastModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			blastRadius(t, mode.name, mode.opts)
		})
	}
}

func blastRadius(t *testing.T, mode string, opts condotest.DatabaseOpts) {
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, &opts)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var sp *condo.SharedPool // the app's shared-table code, split roles only
	var sharedRole string
	if opts.Runtime {
		if _, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, &condo.GrantRuntimeOpts{Tables: migrations.RuntimeGrants()}); err != nil {
			t.Fatal(err)
		}
		if sharedRole, err = condo.SharedRoleName(db.RuntimeRole); err != nil {
			t.Fatal(err)
		}
		sp = condo.NewSharedPool(db.RuntimePool, sharedRole)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{TenantPool: db.RuntimePool, Logger: condotest.Logger(t)})
	var acme, globex *condo.Tenant
	for _, p := range []struct {
		t    **condo.Tenant
		slug string
	}{{&acme, "acme"}, {&globex, "globex"}} {
		if *p.t, err = reg.Create(ctx, condo.CreateParams{Slug: p.slug, Name: p.slug}); err != nil {
			t.Fatal(err)
		}
		err := reg.InTx(ctx, *p.t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Lima', 4)", p.slug+" hotel")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// One row in every shared table worth stealing.
	_, err = db.Pool.Exec(ctx, `
		INSERT INTO public.users (email, password_hash) VALUES ('a@example.test', '$argon2id$fake');
		INSERT INTO public.admin_users (email, password_hash) VALUES ('root@example.test', '$argon2id$fake');
		INSERT INTO public.sessions (token_hash, user_id, expires_at) SELECT '\x01', id, now() + interval '1 day' FROM public.users;
		INSERT INTO public.app_secrets (name, value) VALUES ('csrf', '\x02');
		INSERT INTO public.condo_cert_storage (key, value, encrypted) VALUES ('certificates/x/x.key', '\x03', false)`)
	if err != nil {
		t.Fatal(err)
	}
	other := globex.Schema
	yes, no, stackedOnly := [2]bool{true, true}, [2]bool{false, false}, [2]bool{false, true}
	probes := map[string]blastProbe{
		"own schema":                          {sql: "SELECT name FROM hotel", reach: map[string][2]bool{"before": {true, true}, "single": {true, true}, "split": {true, true}}},
		"other tenants' rows":                 {sql: "SELECT name FROM " + other + ".hotel", asOther: true, reach: everywhere, shared: stackedOnly},
		"other tenants' rows, writing":        {sql: "UPDATE " + other + ".hotel SET name = 'pwned'", asOther: true, reach: map[string][2]bool{"before": {false, true}, "single": {false, true}, "split": {false, true}}, shared: stackedOnly},
		"registry (tenants, domains)":         {sql: "SELECT slug FROM public.condo_tenants", reach: ownerOnly, shared: no},
		"registry, writing":                   {sql: "UPDATE public.condo_tenants SET status = 'suspended'", reach: ddlOwner, shared: no},
		"users' password hashes":              {sql: "SELECT password_hash FROM public.users", reach: sharedToo, shared: yes},
		"admins' password hashes":             {sql: "SELECT password_hash FROM public.admin_users", reach: sharedToo, shared: yes},
		"sessions":                            {sql: "SELECT token_hash FROM public.sessions", reach: sharedToo, shared: yes},
		"CSRF key":                            {sql: "SELECT value FROM public.app_secrets", reach: ownerOnly, shared: no},
		"certificate storage":                 {sql: "SELECT value FROM public.condo_cert_storage", reach: ownerOnly, shared: no},
		"drop another tenant's schema":        {sql: "DROP SCHEMA " + other + " CASCADE", reach: ddlOwner, shared: no},
		"change shared tables (DDL)":          {sql: "ALTER TABLE public.users ADD COLUMN x int", reach: ddlOwner, shared: no},
		"create roles":                        {sql: "CREATE ROLE " + db.Role + "_evil", reach: ddlOwner, shared: no},
		"run programs on the database server": {sql: "GRANT pg_execute_server_program TO CURRENT_USER; COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'", reach: ddlOwner, pg16: nowhere, shared: no, sharedOne: "GRANT pg_execute_server_program TO CURRENT_USER"},
	}
	var version int
	if err := db.Pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	tctx := condo.WithTenant(ctx, acme)
	for name, p := range probes {
		t.Run(name, func(t *testing.T) {
			want := p.reach[mode]
			if p.pg16 != nil && version >= 160000 {
				want = p.pg16[mode]
			}
			target := "none"
			if p.asOther {
				target = globex.Role
			}
			// One statement, through QueryTenant. The own-schema probe
			// needs no escape.
			one := "SELECT set_config('role', '" + target + "', true) || query_to_xml('" + strings.ReplaceAll(p.sql, "'", "''") + "', true, false, '')::text"
			if name == "own schema" {
				one = p.sql
			}
			oneErr := reg.QueryTenant(tctx, func(rows pgx.Rows) error {
				for rows.Next() {
				}
				return rows.Err()
			}, one)
			// Stacked statements, rolled back: as the login role, and with
			// split roles as the shared role too.
			stackedErr := reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
				return stackedProbe(ctx, tx, name, p, globex.Role, sharedRole)
			})
			got := [2]bool{oneErr == nil, errors.Is(stackedErr, errBlastRollback)}
			t.Logf("PostgreSQL %d, %s: one statement %v (%v), stacked %v (%v)", version/10000, mode, got[0], oneErr, got[1], stackedErr)
			if got != want {
				t.Fatalf("PostgreSQL %d, %s: got through (one statement, stacked) = %v, want %v\none statement: %v\nstacked: %v",
					version/10000, mode, got, want, oneErr, stackedErr)
			}
			// And without leaving the tenant role, nothing but its own
			// schema, in every set-up.
			if name != "own schema" {
				plainErr := reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, p.sql, pgx.QueryExecModeSimpleProtocol)
					return err
				})
				if !refused(plainErr) {
					t.Errorf("as the tenant role: got %v, want a privilege error", plainErr)
				}
			}
			for i, err := range []error{oneErr, stackedErr} {
				if !got[i] && !refused(err) {
					t.Errorf("%s: refused with %v, want a privilege error", []string{"one statement", "stacked"}[i], err)
				}
			}
			if sp == nil || name == "own schema" {
				return
			}
			// An injection in the app's shared-table code: one statement
			// as the shared role (with set_config to the other tenant's
			// role where that is the target), and stacked statements in
			// its transaction.
			one = cmp.Or(p.sharedOne, p.sql)
			if p.asOther {
				one = "SELECT set_config('role', '" + globex.Role + "', true) || query_to_xml('" + strings.ReplaceAll(p.sql, "'", "''") + "', true, false, '')::text"
			}
			_, oneErr = sp.Exec(ctx, one)
			stackedErr = pgx.BeginFunc(ctx, sp, func(tx pgx.Tx) error {
				return stackedProbe(ctx, tx, name, p, globex.Role, sharedRole)
			})
			got = [2]bool{oneErr == nil, errors.Is(stackedErr, errBlastRollback)}
			t.Logf("PostgreSQL %d, the app's shared-table code: one statement %v (%v), stacked %v (%v)", version/10000, got[0], oneErr, got[1], stackedErr)
			if got != p.shared {
				t.Fatalf("PostgreSQL %d, the app's shared-table code: got through (one statement, stacked) = %v, want %v\none statement: %v\nstacked: %v",
					version/10000, got, p.shared, oneErr, stackedErr)
			}
			for i, err := range []error{oneErr, stackedErr} {
				if !got[i] && !refused(err) {
					t.Errorf("shared-table code, %s: refused with %v, want a privilege error", []string{"one statement", "stacked"}[i], err)
				}
			}
		})
	}
}

// stackedProbe runs p as stacked statements through the simple protocol
// in tx, trying each way out an attacker has: leaving the current role
// (RESET ROLE), then for another tenant's rows SET ROLE to it, and
// otherwise staying, and (split roles) SET ROLE to the shared role.
// Each attempt runs in a savepoint. It returns errBlastRollback when one
// got through, else the last attempt's error.
func stackedProbe(ctx context.Context, tx pgx.Tx, name string, p blastProbe, other, shared string) error {
	attempts := []string{"RESET ROLE; " + p.sql}
	switch {
	case name == "own schema":
		attempts = []string{p.sql}
	case p.asOther:
		attempts = []string{"RESET ROLE; SET ROLE " + other + "; " + p.sql}
	case shared != "":
		attempts = append(attempts, p.sql, "RESET ROLE; SET ROLE "+shared+"; "+p.sql)
	}
	var err error
	for _, a := range attempts {
		if _, err = tx.Exec(ctx, "SAVEPOINT probe"); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, a, pgx.QueryExecModeSimpleProtocol); err == nil {
			return errBlastRollback
		}
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT probe"); rerr != nil {
			return rerr
		}
	}
	return err
}

var errBlastRollback = errors.New("roll back")

// refused reports whether err is PostgreSQL refusing for lack of privilege
// (or refusing to write inside query_to_xml's read-only query).
func refused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "42501": // insufficient_privilege
		return true
	case "0A000": // feature_not_supported: "UPDATE is not allowed in a non-volatile function"
		return strings.Contains(pe.Message, "not allowed in a non-volatile function")
	}
	return false
}

// TestSplitRolesApp runs the app with split roles: signup (the owner
// creates the tenant, its owner, membership and hand-off in one
// transaction), the tenant's pages (tenant transactions on the runtime
// role), and the app's own shared-table code (sign-in, sessions,
// throttling, sign-out, request counts) on the runtime role's pool as its
// shared role, which holds only migrations.RuntimeGrants. TestAdmin, TestInviteMember and
// TestLoginThrottledInTheApp run in this mode too.
func TestSplitRolesApp(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{runtime: true})
	rt := ta.env.Registry.TenantPool()
	if rt == ta.env.Pool {
		t.Fatal("tenant transactions on the owner's pool")
	}
	if sp := ta.env.SharedPool; sp.Pool() != rt || sp.Role() == "" || ta.app.store.Pool() != sp {
		t.Fatal("the app's shared-table code does not run on the runtime role's pool as the shared role")
	}
	before := rt.Stat().AcquireCount()
	c := ta.client()
	p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Sunny Stays", "Sunny", "owner@example.com", testPassword))
	want(t, p, http.StatusOK, "Welcome to Sunny Stays", "No hotels yet")
	if rt.Stat().AcquireCount() == before {
		t.Fatal("the tenant's pages did not use the runtime role's pool")
	}
	// Sign out and in again: the session and throttle rows are the
	// runtime role's to write.
	want(t, c.submit(ta.url("sunny", "/"), ta.url("sunny", "/logout"), nil), http.StatusOK)
	if p := c.get(ta.url("sunny", "/")); p.URL.Path != "/login" {
		t.Fatalf("signed out: on %s, want /login", p.URL)
	}
	want(t, c.login("sunny", "owner@example.com", "wrong password"), http.StatusUnauthorized, "Wrong e-mail or password.")
	want(t, c.login("sunny", "owner@example.com", testPassword), http.StatusOK, "Sunny Stays")
	var sessions, hits int
	err := ta.env.Pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM public.sessions), (SELECT count(*) FROM public.throttle)`).Scan(&sessions, &hits)
	if err != nil || sessions == 0 || hits == 0 {
		t.Fatalf("sessions %d, throttle rows %d (%v): want some of each", sessions, hits, err)
	}
	// Requests are counted (tenant_requests, without reading the
	// registry); a count for a tenant purged meanwhile is dropped, and
	// the others are still written.
	ta.app.usage.Add(1<<40, 3)
	if err := ta.app.usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var counted int64
	if err := ta.env.Pool.QueryRow(t.Context(), "SELECT COALESCE(sum(requests), 0)::bigint FROM public.tenant_requests").Scan(&counted); err != nil || counted == 0 {
		t.Fatalf("request counts: %d (%v), want some", counted, err)
	}
	ta.noErrors()
}
