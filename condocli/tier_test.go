package condocli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestTenantsCreateDatabaseTier: tenants create --tier database, with the
// secret key from $CONDO_CERT_KEY and the servers from $CONDO_SERVERS,
// and tenants list's TIER and SERVER columns.
func TestTenantsCreateDatabaseTier(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	c := cli{t: t, url: db.URL, env: map[string]string{condocert.KeyEnv: condocert.NewKey(), "CONDO_SERVERS": "main=" + db.URL}}
	c.ok("migrate")
	out := c.ok("tenants", "create", "acme", "--name", "Acme", "--tier", "database", "--json")
	var got struct{ Tier, Server, Database string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Tier != "database" || got.Server != "main" || got.Database != db.Role+"_tenant_1" {
		t.Errorf("created %+v", got)
	}
	c.ok("tenants", "create", "globex", "--name", "Globex")
	out = c.ok("tenants", "list")
	for _, want := range []string{"TIER", "SERVER", "database  main", "schema    -"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants list: no %q in\n%s", want, out)
		}
	}
	c.ok("migrate", "--tenants")
	// Other checks may warn about this test database; these lines count.
	lines, out, _ := doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{
		"server main":      {"ok", "1 database-tier tenant; its role may create databases and roles"},
		"tenant databases": {"ok", "no orphan"},
	})
	c.ok("tenants", "delete", "acme", "--purge", "--yes")

	bad := cli{t: t, url: db.URL, env: map[string]string{"CONDO_SERVERS": "eu=postgres://o:s3cret@eu:notaport/db"}}
	_, errs, err := bad.run("tenants", "list")
	if err == nil || !strings.Contains(err.Error()+errs, `server "eu"`) || strings.Contains(err.Error()+errs, "s3cret") {
		t.Errorf("bad $CONDO_SERVERS: %v %s", err, errs)
	}
}

// TestTenantsDatabaseTierRoundTrip: tenants show and export of a
// database-tier tenant, and import of its file into the database tier
// (--tier database) and into the schema tier: same rows, same sequences.
func TestTenantsDatabaseTierRoundTrip(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	c := cli{t: t, url: db.URL, env: map[string]string{condocert.KeyEnv: condocert.NewKey(), "CONDO_SERVERS": "main=" + db.URL}}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme", "--tier", "database")
	c.ok("tenants", "exec", "acme", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('Acme Plaza', 'Paris', 4), ('Acme Inn', 'Porto', 3)")
	out := c.ok("tenants", "show", "acme")
	for _, want := range []string{"tier:        database", "server:      main", "database:    " + db.Role + "_tenant_1"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants show: no %q in\n%s", want, out)
		}
	}
	file := filepath.Join(t.TempDir(), "acme.export")
	c.ok("tenants", "export", "acme", file)
	if out := c.ok("tenants", "import", file, "acme-db", "--tier", "database"); !strings.Contains(out, "database "+db.Role+"_tenant_") {
		t.Errorf("import --tier database: %s", out)
	}
	c.ok("tenants", "import", file, "acme-schema")
	for slug, tier := range map[string]string{"acme-db": "database", "acme-schema": "schema"} {
		var got struct{ Tier, Name string }
		out := c.ok("tenants", "show", slug, "--json")
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Tier != tier || got.Name != "Acme" {
			t.Errorf("%s: %+v, %v; want tier %s, name Acme", slug, got, err, tier)
		}
		// The rows, and the identity sequence carried on (id 3 next).
		c.ok("tenants", "exec", slug, "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('New', 'Oslo', 2)")
		out = c.ok("tenants", "exec", slug, "--sql", "SELECT id, name FROM hotel ORDER BY id")
		for _, want := range []string{"1   Acme Plaza", "2   Acme Inn", "3   New"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s hotels: no %q in\n%s", slug, want, out)
			}
		}
	}
	out = c.ok("tenants", "list")
	if n := strings.Count(out, "database  main"); n != 2 {
		t.Errorf("tenants list: %d database-tier rows on main, want 2:\n%s", n, out)
	}
}
