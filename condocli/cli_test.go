package condocli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
)

var tenantFS = fstest.MapFS{
	"0001_hotels.sql": {Data: []byte(`CREATE TABLE hotel (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name varchar(100) NOT NULL, city varchar(100) NOT NULL, stars smallint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE room (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotel_id bigint NOT NULL REFERENCES hotel (id) ON DELETE CASCADE,
    number varchar(10) NOT NULL, beds smallint NOT NULL, price numeric(8,2) NOT NULL);`)},
	"0002_rating.sql": {Data: []byte("ALTER TABLE hotel ADD COLUMN rating numeric(3,1);\nCREATE INDEX hotel_city_idx ON hotel (city);")},
}

type cli struct {
	t      *testing.T
	url    string
	fs     fstest.MapFS      // tenant migrations; nil means tenantFS
	shared fstest.MapFS      // shared migrations; nil means none
	env    map[string]string // more environment besides DATABASE_URL
}

// run executes the CLI and returns stdout, stderr and the error.
func (c cli) run(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	cl := newCLI(&condocli.Config{
		Name:  "hotels",
		Stack: &condostack.Config{SharedMigrations: c.sharedMigrations(), TenantMigrations: c.migrations()},
		Getenv: func(k string) string {
			if k == "DATABASE_URL" {
				return c.url
			}
			return c.env[k]
		},
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Logger: condotest.Logger(c.t),
	}, nil)
	err := cl.Execute(c.t.Context(), args)
	return out.String(), errb.String(), err
}

func (c cli) ok(args ...string) string {
	c.t.Helper()
	out, errs, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%v: %v\nstderr: %s", args, err, errs)
	}
	return out
}

func (c cli) fails(want string, args ...string) {
	c.t.Helper()
	_, _, err := c.run(args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		c.t.Fatalf("%v: got error %v, want one containing %q", args, err, want)
	}
}

func TestCLI(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}

	out := c.ok("migrate", "--dry-run")
	if !strings.Contains(out, "tenants: 0 behind") {
		t.Fatalf("dry run output: %s", out)
	}
	c.ok("migrate")
	// A tenant created by an older release is behind; a fleet run brings it
	// up to date and prints plain progress lines when not on a terminal.
	old := cli{t: t, url: db.URL, fs: fstest.MapFS{"0001_hotels.sql": tenantFS["0001_hotels.sql"]}}
	old.ok("tenants", "create", "early", "--name", "Early")
	_, errs, err := c.run("migrate", "--tenants", "--parallel", "1")
	if err != nil || !strings.Contains(errs, "tenants: 1/1 done, 0 failed") {
		t.Fatalf("migrate: %v; stderr: %s", err, errs)
	}
	c.fails("--parallel must be at least 1", "migrate", "--parallel", "-1")
	c.fails("exclude each other", "migrate", "--shared", "--tenants")
	c.ok("tenants", "delete", "early", "--purge", "--yes")
	c.ok("tenants", "create", "acme", "--name", "Acme", "--domain", "acme.example.org", "--paid-until", "2027-01-31", "--trial")
	c.ok("tenants", "create", "globex", "--name", "Globex")
	c.ok("tenants", "exec", "acme", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('Acme Plaza', 'Paris', 4)")
	c.ok("tenants", "exec", "globex", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('Globex Inn', 'Oslo', 3)")

	var tj map[string]any
	if err := json.Unmarshal([]byte(c.ok("tenants", "show", "acme", "--json")), &tj); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"slug": "acme", "name": "Acme", "status": "active", "paid_until": "2027-01-31", "on_trial": true} {
		if tj[k] != want {
			t.Errorf("show --json %s = %v, want %v", k, tj[k], want)
		}
	}
	for _, k := range []string{"schema", "created_on", "domains"} {
		if _, ok := tj[k]; !ok {
			t.Errorf("show --json lacks %s", k)
		}
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(c.ok("tenants", "list", "--json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("list --json: %v %v", list, err)
	}

	// The walls, through raw SQL as acme.
	globexSchema := func() string {
		var g map[string]any
		_ = json.Unmarshal([]byte(c.ok("tenants", "show", "globex", "--json")), &g)
		return g["schema"].(string)
	}()
	c.fails("permission denied", "tenants", "exec", "acme", "--sql", "SELECT * FROM "+globexSchema+".hotel")
	c.fails("permission denied", "tenants", "exec", "acme", "--sql", "SELECT * FROM public.condo_tenants")
	if out := c.ok("tenants", "exec", "acme", "--sql", "SELECT name FROM hotel"); !strings.Contains(out, "Acme Plaza") || strings.Contains(out, "Globex") {
		t.Fatalf("acme's hotels: %s", out)
	}

	// Lifecycle.
	c.ok("tenants", "suspend", "acme")
	// No NODE column off Citus.
	if out := c.ok("tenants", "list", "--status", "suspended"); !strings.Contains(out, "acme") || strings.Contains(out, "NODE") {
		t.Fatalf("suspended list: %s", out)
	}
	c.ok("tenants", "resume", "acme")
	c.ok("tenants", "rename", "acme", "acme-corp")
	c.ok("tenants", "domains", "add", "acme-corp", "www.acme.test", "--primary")
	c.ok("tenants", "update", "acme-corp", "--paid-until", "2028-01-01", "--trial=false")

	// Export and import round trip.
	file := filepath.Join(t.TempDir(), "acme.condo")
	c.ok("tenants", "export", "acme-corp", file)
	c.ok("tenants", "import", file, "acme-copy")
	if out := c.ok("tenants", "exec", "acme-copy", "--sql", "SELECT name, city, stars FROM hotel"); !strings.Contains(out, "Acme Plaza") {
		t.Fatalf("imported hotels: %s", out)
	}
	// Sequences were restored: a new row does not collide.
	c.ok("tenants", "exec", "acme-copy", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('New', 'Rome', 2)")

	// Bad input: clear errors, nothing done.
	c.fails("tenant slug", "tenants", "create", "Bad;Slug", "--name", "x")
	c.fails("already exists", "tenants", "create", "globex", "--name", "x")
	c.fails("--name is required", "tenants", "create", "newco")
	c.fails("want a date", "tenants", "create", "newco", "--name", "x", "--paid-until", "tomorrow")
	c.fails("tenant not found", "tenants", "show", "nope")
	c.fails("--yes", "tenants", "delete", "globex", "--purge")
	c.fails("not a Condo export", "tenants", "import", filepath.Join(t.TempDir(), "..", filepath.Base(t.TempDir())), "x")
	c.ok("tenants", "delete", "globex", "--purge", "--yes")
	c.fails("tenant not found", "tenants", "show", "globex")
	if _, _, err := (cli{t: t, url: ""}).run("tenants", "list"); err != condocli.ErrNoDatabase {
		t.Fatalf("no database: %v", err)
	}
}

func (c cli) sharedMigrations() fs.FS {
	if c.shared != nil {
		return c.shared
	}
	return nil
}

func (c cli) migrations() fs.FS {
	if c.fs != nil {
		return c.fs
	}
	return tenantFS
}

// TestMigrateUnknownTenant: migrate --tenant with no such tenant fails
// without printing a summary of a run that did not happen.
func TestMigrateUnknownTenant(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	out, _, err := c.run("migrate", "--tenant", "nope")
	if !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("migrate --tenant nope: got %v, want ErrTenantNotFound", err)
	}
	if strings.Contains(out, "tenants:") {
		t.Errorf("migrate --tenant nope printed a summary before its error:\n%s", out)
	}
}

// TestArgs: a missing or extra argument is named, and an unknown
// subcommand is an error rather than help.
func TestArgs(t *testing.T) {
	t.Parallel()
	c := cli{t: t}
	c.fails("missing SLUG (usage: hotels tenants show SLUG", "tenants", "show")
	c.fails("missing HOST", "tenants", "domains", "add", "acme")
	c.fails("too many arguments: want SLUG, got 2", "tenants", "show", "a", "b")
	c.fails(`unknown command "nope" for "hotels tenants"`, "tenants", "nope")
	c.fails(`unknown command "nope" for "hotels"`, "nope")
	_, _, err := c.run("certs", "nope")
	if !errors.Is(err, condocli.ErrUnknownCommand) {
		t.Errorf("certs nope: got %v, want ErrUnknownCommand", err)
	}
}

// TestDomainsVerifyPair: verify checks that the domain is the named
// tenant's (the rule is condocert.VerifyDomain's, through VerifyOpts.Tenant).
func TestDomainsVerifyPair(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	c.ok("tenants", "create", "globex", "--name", "Globex")
	c.ok("tenants", "domains", "add", "acme", "shop.acme.test", "--unverified")
	if _, _, err := c.run("tenants", "domains", "verify", "globex", "shop.acme.test"); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Errorf("verify another tenant's domain: got %v, want ErrDomainNotFound", err)
	}
	if _, _, err := c.run("tenants", "domains", "verify", "nobody", "shop.acme.test"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Errorf("verify for no such tenant: got %v, want ErrTenantNotFound", err)
	}
}
