package condocli_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condotest"
)

// doctorLines runs doctor and returns its report as "status check" → line,
// and the command's error.
func doctorLines(t *testing.T, c cli, args ...string) (map[string]string, string, error) {
	t.Helper()
	out, errs, err := c.run(append([]string{"doctor"}, args...)...)
	lines := map[string]string{}
	re := regexp.MustCompile(`^(ok|skip|warn|FAIL) +([a-z ]+): `)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			lines[m[2]] = l
		}
	}
	t.Logf("doctor %s:\n%s%s", strings.Join(args, " "), out, errs)
	return lines, out, err
}

// want checks that each named check has the status and says the text.
func wantLines(t *testing.T, out string, lines map[string]string, want map[string][2]string) {
	t.Helper()
	for check, w := range want {
		l, found := lines[check]
		if !found || !strings.HasPrefix(l, w[0]+" ") || !strings.Contains(l, w[1]) {
			t.Errorf("%s: got %q, want %s with %q\nreport:\n%s", check, l, w[0], w[1], out)
		}
	}
}

// A deployment as it should be: every check ok.
func TestDoctorHealthy(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	// A stored certificate, encrypted with the key the instances are given.
	key := condocert.NewKey()
	raw, _ := condocert.ParseKey(key)
	st, _ := condocert.NewStorage(db.Pool, &condocert.StorageConfig{EncryptionKey: raw})
	if err := st.Store(t.Context(), "certificates/x/example.org.key", []byte("k")); err != nil {
		t.Fatal(err)
	}
	c.env = map[string]string{condocert.KeyEnv: key, "CONDO_DB_CONNS": "10"}

	lines, out, err := doctorLines(t, c, "--instances", "2", "--acme-email", "ops@example.org")
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	wantLines(t, out, lines, map[string][2]string{
		"server version":    {"ok", "PostgreSQL 1"},
		"login role":        {"ok", db.Role + " has CREATEROLE and is not a superuser"},
		"ownership":         {"ok", db.Role + " owns database " + db.Name + " and its public schema"},
		"connections":       {"ok", "2 instance(s) × 11 (--db-conns 10, 1 listener) = 22 of "},
		"shared migrations": {"ok", "up to date"},
		"tenant migrations": {"ok", "1 tenant(s) at version 2"},
		"clock":             {"ok", "agree within"},
		"pooler":            {"ok", "direct connection, detected: connected to port"},
		"certificate key":   {"ok", "opens the 1 encrypted value stored"},
		"blast radius":      {"ok", "set_config revoked from tenant roles; one role for everything"},
		"tenant roles":      {"ok", "1 tenant; at most 1 per role that may take them (" + db.Role + ", limit "},
		"pending tenants":   {"ok", "none (signup runs the tenant's DDL"},
		"tenant databases":  {"ok", "no orphan"},
		"catalog":           {"ok", "system catalogs "},
	})
	if len(lines) != 14 || !strings.Contains(out, "0 failed, 0 warning(s), 14 check(s)") {
		t.Errorf("want 14 checks, 0 failed:\n%s", out)
	}
}

// A broken deployment gets a FAIL line per problem, each saying what to do,
// and a non-zero exit.
func TestDoctorBroken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	c.ok("tenants", "create", "globex", "--name", "Globex")

	t.Run("migrations pending, too many instances, no key", func(t *testing.T) {
		// A new release: a shared migration and a tenant migration that
		// nobody ran yet.
		newer := cli{t: t, url: db.URL, shared: fstest.MapFS{"0001_plans.sql": {Data: []byte("CREATE TABLE plan (id int)")}},
			fs: fstest.MapFS{"0003_floor.sql": {Data: []byte("ALTER TABLE room ADD COLUMN floor int")}}}
		for k, v := range tenantFS {
			newer.fs[k] = v
		}
		lines, out, err := doctorLines(t, newer, "--instances", "50", "--acme-email", "ops@example.org")
		if !errors.Is(err, condocli.ErrDoctorFailed) {
			t.Fatalf("doctor: got %v, want ErrDoctorFailed", err)
		}
		wantLines(t, out, lines, map[string][2]string{
			"login role":        {"ok", "has CREATEROLE"},
			"connections":       {"FAIL", "50 instance(s) × 21 (--db-conns 20, 1 listener) = 1050, but the server takes "},
			"shared migrations": {"FAIL", "1 pending (shared 1_plans); run `hotels migrate` before serving"},
			"tenant migrations": {"FAIL", "2 of 2 tenant(s) behind version 3; run `hotels migrate --tenants`"},
			"certificate key":   {"FAIL", "no key is set; make one with `hotels certs genkey`"},
		})
		if !strings.Contains(out, "4 failed, 0 warning(s)") {
			t.Errorf("summary:\n%s", out)
		}
	})

	t.Run("role without CREATEROLE", func(t *testing.T) {
		// What a provider's "read-write user" often is: it may log in and
		// no more. Named after the test's role so the cleanup drops it.
		weak := db.Role + "_weak"
		if _, err := db.Pool.Exec(ctx, "CREATE ROLE "+pgx.Identifier{weak}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		cfg, _ := pgx.ParseConfig(db.URL)
		url := strings.Replace(db.URL, "://"+cfg.User+"@", "://"+weak+"@", 1)
		lines, out, err := doctorLines(t, cli{t: t, url: url})
		if !errors.Is(err, condocli.ErrDoctorFailed) {
			t.Fatalf("doctor: got %v, want ErrDoctorFailed", err)
		}
		wantLines(t, out, lines, map[string][2]string{
			"login role":      {"FAIL", weak + " lacks CREATEROLE, so Condo cannot create tenant roles; as an administrator run: ALTER ROLE " + weak + " CREATEROLE"},
			"ownership":       {"FAIL", weak + " may not create schemas in database " + db.Name},
			"migrations":      {"FAIL", "cannot read the migration state"},
			"connections":     {"ok", "1 instance(s) × 21"},
			"certificate key": {"ok", "not needed"},
		})
	})

	t.Run("wrong certificate key", func(t *testing.T) {
		raw, _ := condocert.ParseKey(condocert.NewKey())
		st, _ := condocert.NewStorage(db.Pool, &condocert.StorageConfig{EncryptionKey: raw})
		if err := st.Store(ctx, "certificates/x/example.org.key", []byte("k")); err != nil {
			t.Fatal(err)
		}
		other := cli{t: t, url: db.URL, env: map[string]string{condocert.KeyEnv: condocert.NewKey()}}
		lines, out, err := doctorLines(t, other, "--acme-email", "ops@example.org")
		if !errors.Is(err, condocli.ErrDoctorFailed) {
			t.Fatalf("doctor: got %v, want ErrDoctorFailed", err)
		}
		wantLines(t, out, lines, map[string][2]string{
			"certificate key": {"FAIL", "the key does not open the certificates stored in the database"},
		})
	})

	t.Run("superuser", func(t *testing.T) {
		cfg, _ := pgx.ParseConfig(condotest.AdminURL(t))
		url := strings.Replace(db.URL, "://"+db.Role+"@", "://"+cfg.User+"@", 1)
		lines, out, _ := doctorLines(t, cli{t: t, url: url})
		wantLines(t, out, lines, map[string][2]string{
			"login role": {"warn", cfg.User + " is a superuser, which skips every privilege check"},
		})
	})

	t.Run("no database", func(t *testing.T) {
		lines, out, err := doctorLines(t, cli{t: t, url: "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"})
		if !errors.Is(err, condocli.ErrDoctorFailed) {
			t.Fatalf("doctor: got %v, want ErrDoctorFailed", err)
		}
		wantLines(t, out, lines, map[string][2]string{
			"database": {"FAIL", "cannot connect or query"},
		})
	})
}
