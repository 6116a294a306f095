package condo_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestTierPasswordLogin: on a server that requires scram-sha-256 of every
// role but the owner, the database tier's pools log in as the tenant's
// role with its generated password (opened from the registry with the
// secret key); a wrong or absent password is refused; the role may not
// connect to another tenant's database (CONNECT); and with the pg_hba.conf
// the README suggests (samerole: a tenant role only to the database named
// like it) not to the registry's database either.
func TestTierPasswordLogin(t *testing.T) {
	t.Parallel()
	cl := condotest.NewCluster(t)
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Cluster: cl, CreateDB: true})
	ctx := t.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t), SecretKey: testSecretKey})
	var tenants []*condo.Tenant
	for _, slug := range []string{"acme", "globex"} {
		ten, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Tier: condo.TierDatabase,
			OnCreated: func(ctx context.Context, _ pgx.Tx, ten *condo.Tenant) error {
				return reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Porto', 3)", slug+" hotel")
					return err
				})
			}})
		if err != nil {
			t.Fatalf("create %s: %v", slug, err)
		}
		tenants = append(tenants, ten)
	}
	acme, globex := tenants[0], tenants[1]
	reg.Close()
	password, err := reg.TenantPassword(acme)
	if err != nil {
		t.Fatal(err)
	}
	// asAcme connects as acme's role to database with password.
	asAcme := func(database, password string) error {
		u := &url.URL{Scheme: "postgres", Host: fmt.Sprintf("127.0.0.1:%d", cl.Port()), Path: "/" + database, RawQuery: "sslmode=disable"}
		u.User = url.UserPassword(acme.Role, password)
		if password == "" {
			u.User = url.User(acme.Role)
		}
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		var n int
		return conn.QueryRow(ctx, "SELECT 1").Scan(&n)
	}
	code := func(err error) string {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return pe.Code
		}
		return ""
	}
	hotelOf := func(r *condo.Registry, ten *condo.Tenant) (string, error) {
		var name string
		err := r.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT name FROM hotel").Scan(&name)
		})
		return name, err
	}

	for _, c := range []struct {
		name string
		hba  []string
		// registryRefused: the code refusing acme's role in the
		// registry's database ("" when it may connect).
		registryRefused string
	}{
		{"scram for every role but the owner", []string{
			"local all all trust",
			"host all postgres," + db.Role + " 127.0.0.1/32 trust",
			"host all all 127.0.0.1/32 scram-sha-256",
		}, ""},
		{"samerole", []string{
			"local all all trust",
			"host all postgres," + db.Role + " 127.0.0.1/32 trust",
			"host samerole all 127.0.0.1/32 scram-sha-256",
			"host all all 127.0.0.1/32 reject",
		}, "28000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl.Shutdown(condotest.ShutdownFast)
			cl.SetHBA(c.hba...)
			cl.Restart(t)
			// A registry started after the restart: its pools are new.
			r := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t), SecretKey: testSecretKey})
			defer r.Close()
			db.Pool.Reset() // the owner's connections died with the server
			for _, ten := range tenants {
				if name, err := hotelOf(r, ten); err != nil || name != ten.Slug+" hotel" {
					t.Fatalf("%s through its tier pool: %q, %v", ten.Slug, name, err)
				}
			}
			if err := asAcme(acme.Database, password); err != nil {
				t.Fatalf("acme's role with its password: %v", err)
			}
			if err := asAcme(acme.Database, password+"x"); code(err) != "28P01" {
				t.Errorf("wrong password: got %v, want invalid_password (28P01)", err)
			}
			if err := asAcme(acme.Database, ""); err == nil {
				t.Errorf("no password: logged in")
			}
			// CONNECT is the tenant's own: insufficient_privilege, or
			// pg_hba's refusal first.
			if err := asAcme(globex.Database, password); code(err) != "42501" && code(err) != "28000" {
				t.Errorf("acme's role in globex's database: got %v, want refused", err)
			}
			err := asAcme(db.Name, password)
			switch {
			case c.registryRefused == "" && err != nil:
				t.Errorf("acme's role in the registry's database: %v (PUBLIC keeps CONNECT there)", err)
			case c.registryRefused != "" && code(err) != c.registryRefused:
				t.Errorf("acme's role in the registry's database: got %v, want %s", err, c.registryRefused)
			}
			// A sealed password tampered with (or copied to another
			// row) does not open: no pool, no login.
			bad := *acme
			bad.SealedPassword = append([]byte(nil), acme.SealedPassword...)
			bad.SealedPassword[len(bad.SealedPassword)-1] ^= 1
			if _, err := hotelOf(r, &bad); err == nil {
				t.Errorf("tampered sealed password: logged in")
			}
		})
	}
}
