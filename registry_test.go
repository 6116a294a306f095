package condo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

func TestCreateGetList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	paid := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	a, err := e.reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme Inc.", Domains: []string{"Shop.Acme.TEST.", "acme.example.org"}, PaidUntil: &paid, OnTrial: true})
	if err != nil {
		t.Fatal(err)
	}
	e.create(t, "globex")
	got, err := e.reg.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := &condo.Tenant{
		ID: a.ID, Slug: "acme", Name: "Acme Inc.", Schema: a.Schema, Role: a.Role, Status: condo.StatusActive,
		PaidUntil: &paid, OnTrial: true, CreatedOn: a.CreatedOn, MigrationVersion: 1,
		Domains: []condo.Domain{{Host: "shop.acme.test", Primary: true, Verified: true}, {Host: "acme.example.org", Verified: true}},
		Tier:    condo.TierSchema,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Get mismatch (-want +got):\n%s", diff)
	}
	if byHost, err := e.reg.GetByHost(ctx, "shop.acme.test"); err != nil || byHost.ID != a.ID {
		t.Fatalf("GetByHost = %v, %v; want acme", byHost, err)
	}
	if _, err := e.reg.GetByHost(ctx, "nope.test"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("GetByHost unknown: got %v, want ErrTenantNotFound", err)
	}
	if _, err := e.reg.Get(ctx, "nope"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("Get unknown: got %v, want ErrTenantNotFound", err)
	}

	// Pagination and filters.
	for _, s := range []string{"c1", "c2", "c3"} {
		e.create(t, s)
	}
	var slugs []string
	after := ""
	for {
		page, err := e.reg.List(ctx, condo.ListParams{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, ten := range page.Tenants {
			slugs = append(slugs, ten.Slug)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if diff := cmp.Diff([]string{"acme", "c1", "c2", "c3", "globex"}, slugs); diff != "" {
		t.Fatalf("paged list (-want +got):\n%s", diff)
	}
	trial := true
	page, err := e.reg.List(ctx, condo.ListParams{OnTrial: &trial})
	if err != nil || len(page.Tenants) != 1 || page.Tenants[0].Slug != "acme" {
		t.Fatalf("trial filter: %v %v", page, err)
	}
	page, err = e.reg.List(ctx, condo.ListParams{Search: "example.org"})
	if err != nil || len(page.Tenants) != 1 || page.Tenants[0].Slug != "acme" {
		t.Fatalf("search by domain: %v %v", page, err)
	}
	page, err = e.reg.List(ctx, condo.ListParams{Search: "%"})
	if err != nil || len(page.Tenants) != 0 {
		t.Fatalf("search with wildcard char must be literal: got %d tenants, %v", len(page.Tenants), err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	a := e.create(t, "acme", "acme.example.org")
	e.create(t, "globex")

	if err := e.reg.Suspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.reg.Get(ctx, "acme"); got.Status != condo.StatusSuspended {
		t.Fatalf("status %s, want suspended", got.Status)
	}
	if err := e.reg.Resume(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Rename(ctx, "acme", "globex"); !errors.Is(err, condo.ErrTenantExists) {
		t.Fatalf("rename onto taken slug: got %v, want ErrTenantExists", err)
	}
	if err := e.reg.Rename(ctx, "acme", "Bad Slug"); !isNameError(err) {
		t.Fatalf("rename to bad slug: got %v, want *NameError", err)
	}
	if err := e.reg.Rename(ctx, "acme", "acme-corp"); err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.Get(ctx, "acme-corp")
	if err != nil || got.ID != a.ID || got.Schema != a.Schema {
		t.Fatalf("renamed tenant: %+v, %v", got, err)
	}

	// Domains.
	if _, err := e.reg.AddDomain(ctx, "globex", "acme.example.org", nil); !errors.Is(err, condo.ErrDomainTaken) {
		t.Fatalf("add taken domain: got %v, want ErrDomainTaken", err)
	}
	d, err := e.reg.AddDomain(ctx, "acme-corp", "www.acme.example", &condo.DomainOpts{Unverified: true})
	if err != nil || d.Verified || d.VerifyToken == "" {
		t.Fatalf("unverified domain: %+v, %v", d, err)
	}
	if _, err := e.reg.GetByHost(ctx, "www.acme.example"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("unverified domain must not route: %v", err)
	}
	if err := e.reg.MarkDomainVerified(ctx, "acme-corp", "www.acme.example"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.SetPrimaryDomain(ctx, "acme-corp", "www.acme.example"); err != nil {
		t.Fatal(err)
	}
	got, _ = e.reg.Get(ctx, "acme-corp")
	if got.PrimaryDomain() != "www.acme.example" {
		t.Fatalf("primary = %q", got.PrimaryDomain())
	}
	if err := e.reg.RemoveDomain(ctx, "globex", "www.acme.example"); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Fatalf("remove other tenant's domain: got %v, want ErrDomainNotFound", err)
	}
	if err := e.reg.RemoveDomain(ctx, "acme-corp", "acme.example.org"); err != nil {
		t.Fatal(err)
	}

	// Delete keeps the data; purge removes schema, role and rows.
	if err := e.reg.Delete(ctx, "acme-corp", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Suspend(ctx, "acme-corp"); !errors.Is(err, condo.ErrTenantDeleted) {
		t.Fatalf("suspend deleted: got %v", err)
	}
	if !schemaExists(t, e, a.Schema) {
		t.Fatal("soft delete dropped the schema")
	}
	if err := e.reg.Delete(ctx, "acme-corp", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if schemaExists(t, e, a.Schema) || roleExists(t, e, a.Role) {
		t.Fatal("purge left the schema or role behind")
	}
	if _, err := e.reg.Get(ctx, "acme-corp"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("purged tenant still found: %v", err)
	}
}

func isNameError(err error) bool {
	var ne *condo.NameError
	return errors.As(err, &ne)
}

func schemaExists(t testing.TB, e *env, schema string) bool {
	t.Helper()
	var ok bool
	if err := e.pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func roleExists(t testing.TB, e *env, role string) bool {
	t.Helper()
	var ok bool
	if err := e.pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// snapshot captures everything tenant creation may touch.
func snapshot(t testing.TB, e *env) string {
	t.Helper()
	var s string
	err := e.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM public.condo_tenants)::text || '/' ||
		(SELECT count(*) FROM public.condo_domains)::text || '/' ||
		COALESCE((SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'tenant%'), '') || '/' ||
		(SELECT count(*) FROM pg_roles WHERE rolname LIKE current_user || '%')::text || '/' ||
		(SELECT count(*) FROM public.condo_migrations)::text`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateIsAtomic(t *testing.T) {
	t.Parallel()
	failing := condotest.HotelMigrations()
	failing["0002_broken.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN x int;\nSELECT 1/0;")}
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	e.create(t, "acme", "acme.example.org")
	before := snapshot(t, e)

	broken, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: failing})
	if err != nil {
		t.Fatal(err)
	}
	brokenReg := condo.NewRegistry(e.pool, broken, nil)
	hookErr := errors.New("seed failed")
	tests := []struct {
		name string
		reg  *condo.Registry
		p    condo.CreateParams
		want func(error) bool
	}{
		{"duplicate slug", e.reg, condo.CreateParams{Slug: "acme", Name: "x"}, is(condo.ErrTenantExists)},
		{"duplicate domain", e.reg, condo.CreateParams{Slug: "b", Name: "x", Domains: []string{"ACME.example.org"}}, is(condo.ErrDomainTaken)},
		{"failing migration", brokenReg, condo.CreateParams{Slug: "c", Name: "x"}, func(err error) bool {
			var me *condomigrate.MigrateError
			return errors.As(err, &me) && me.Version == 2
		}},
		{"failing hook", e.reg, condo.CreateParams{Slug: "d", Name: "x", OnCreated: func(ctx context.Context, tx pgx.Tx, _ *condo.Tenant) error {
			if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('h', 'c', 3)"); err != nil {
				return err
			}
			return hookErr
		}}, is(hookErr)},
		{"connection killed", e.reg, condo.CreateParams{Slug: "g", Name: "x", OnCreated: func(ctx context.Context, tx pgx.Tx, _ *condo.Tenant) error {
			// What the server sees when the creating process dies mid-way.
			_, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}}, func(err error) bool { return err != nil }},
		{"bad domain", e.reg, condo.CreateParams{Slug: "e", Name: "x", Domains: []string{"a..b"}}, isNameError},
		{"cancelled", e.reg, condo.CreateParams{Slug: "f", Name: "x", OnCreated: func(ctx context.Context, tx pgx.Tx, _ *condo.Tenant) error {
			_, err := tx.Exec(ctx, "SELECT pg_sleep(10)")
			return err
		}}, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cctx := ctx
			if tt.name == "cancelled" {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err := tt.reg.Create(cctx, tt.p)
			if !tt.want(err) {
				t.Fatalf("got error %v", err)
			}
			if after := snapshot(t, e); after != before {
				t.Fatalf("database changed: before %s, after %s", before, after)
			}
		})
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func TestNamesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	before := snapshot(t, e)
	slugs := map[string]string{
		"quote":           `a'b`,
		"double quote":    `a"b`,
		"semicolon":       "a;drop table x",
		"idna-like":       "ab--cd",
		"space":           "a b",
		"upper":           "Acme",
		"cyrillic a":      "\u0430cme",
		"fullwidth":       "\uff41cme",
		"pg prefix":       "pg_catalog",
		"underscore":      "a_b",
		"64 chars":        strings.Repeat("a", 64),
		"leading hyphen":  "-acme",
		"trailing hyphen": "acme-",
		"punycode":        "xn--80ak6aa92e",
		"reserved":        "admin",
		"empty":           "",
		"dot":             "a.b",
		"nul":             "a\x00b",
	}
	for name, slug := range slugs {
		t.Run(name, func(t *testing.T) {
			_, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: "x"})
			var ne *condo.NameError
			if !errors.As(err, &ne) || ne.Kind != "tenant slug" || ne.Reason == "" {
				t.Fatalf("Create(%q) = %v, want a tenant slug *NameError", slug, err)
			}
		})
	}
	hosts := []string{"a'b.test", "a;b.test", "exa\u0430mple.test\x00", "a b.test", strings.Repeat("a", 64) + ".test", "-a.test", "a..test", "localhost", "a.test/x", "a.test:99999x"}
	for _, h := range hosts {
		if _, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: "ok", Name: "x", Domains: []string{h}}); !isNameError(err) {
			t.Errorf("domain %q: got %v, want *NameError", h, err)
		}
	}
	if after := snapshot(t, e); after != before {
		t.Fatalf("database changed: %s → %s", before, after)
	}
}

func TestTenantTxIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	a, b := e.create(t, "acme"), e.create(t, "globex")
	insert := func(ten *condo.Tenant, name string) {
		err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Paris', 4)", name)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	insert(a, "acme hotel")
	insert(b, "globex hotel")

	names := func(ctx context.Context) ([]string, error) {
		var out []string
		err := e.reg.InTenantTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, "SELECT name FROM hotel ORDER BY id")
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		return out, err
	}
	if got, err := names(condo.WithTenant(ctx, a)); err != nil || !cmp.Equal(got, []string{"acme hotel"}) {
		t.Fatalf("acme sees %v, %v", got, err)
	}
	if got, err := names(condo.WithTenant(ctx, b)); err != nil || !cmp.Equal(got, []string{"globex hotel"}) {
		t.Fatalf("globex sees %v, %v", got, err)
	}
	if _, err := names(ctx); !errors.Is(err, condo.ErrNoTenant) {
		t.Fatalf("no tenant: got %v, want ErrNoTenant", err)
	}

	// The walls: raw SQL as acme.
	walls := map[string]string{
		"other tenant's table":  "SELECT * FROM " + b.Schema + ".hotel",
		"other tenant's schema": "CREATE TABLE " + b.Schema + ".x (id int)",
		"registry":              "SELECT * FROM public.condo_tenants",
		"domains":               "SELECT * FROM public.condo_domains",
		"migration history":     "SELECT * FROM condo_migrations",
		"create in public":      "CREATE TABLE public.hotel (id int)",
		"ddl in own schema":     "DROP TABLE hotel",
	}
	for name, sql := range walls {
		t.Run(name, func(t *testing.T) {
			err := e.reg.InTx(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, sql)
				return err
			})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Fatalf("%s: got %v, want insufficient_privilege (42501)", sql, err)
			}
		})
	}
	// A table that does not exist in the tenant schema is an error, never
	// someone else's table.
	err := e.reg.InTx(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT * FROM condo_tenants")
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Fatalf("unqualified shared table: got %v, want undefined_table", err)
	}
	// Settings do not survive the transaction on the pooled connection.
	var sp string
	if err := e.pool.QueryRow(ctx, "SELECT current_setting('search_path') || '/' || current_user").Scan(&sp); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sp, "tenant_") {
		t.Fatalf("session after tenant tx: %s", sp)
	}
}
