package condo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// newMoveEnv is a tier environment whose tenant transactions of the
// schema tier run on a runtime role that owns nothing, so that the tests
// see the runtime role's grants follow a tenant between tiers.
func newMoveEnv(t testing.TB, cfg *condo.RegistryConfig) (*env, *condotest.Database) {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true, Runtime: true})
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &condo.RegistryConfig{}
	}
	cfg.Logger, cfg.SecretKey, cfg.TenantPool = condotest.Logger(t), testSecretKey, db.RuntimePool
	reg := condo.NewRegistry(db.Pool, m, cfg)
	t.Cleanup(reg.Close)
	return &env{pool: db.Pool, migrator: m, reg: reg, db: db}, db
}

// seed writes n hotels with two rooms each in ten.
func seed(t testing.TB, reg *condo.Registry, ten *condo.Tenant, n int) {
	t.Helper()
	err := reg.InTx(t.Context(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH h AS (INSERT INTO hotel (name, city, stars)
			SELECT 'H' || i, 'C', 1 + i % 5 FROM generate_series(1, $1) i RETURNING id)
			INSERT INTO room (hotel_id, number, beds, price) SELECT id, r::text, 2, 99.5 FROM h, generate_series(1, 2) r`, n)
		return err
	})
	if err != nil {
		t.Fatalf("seed %s: %v", ten.Slug, err)
	}
}

// counts reads ten's hotel and room counts through a tenant transaction
// (the tenant read fresh from the registry).
func counts(t testing.TB, reg *condo.Registry, slug string) (hotels, rooms int) {
	t.Helper()
	ten, err := reg.Get(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	err = reg.InTx(t.Context(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM hotel), (SELECT count(*) FROM room)").Scan(&hotels, &rooms)
	})
	if err != nil {
		t.Fatalf("read %s: %v", slug, err)
	}
	return hotels, rooms
}

// roleState is whether ten's role logs in and whether the runtime role
// may SET ROLE to it, on the registry's server.
func roleState(t testing.TB, pool *pgxpool.Pool, role, runtime string) (login, member bool) {
	t.Helper()
	err := pool.QueryRow(t.Context(), `SELECT r.rolcanlogin, pg_has_role($2, r.oid, 'MEMBER') FROM pg_roles r WHERE r.rolname = $1`,
		role, runtime).Scan(&login, &member)
	if err != nil {
		t.Fatal(err)
	}
	return login, member
}

// TestMoveTier: a tenant moves schema → database → schema with its rows;
// the runtime role's grant and the role's login follow it; a tenant
// struct taken before a move still works (its transaction is retried at
// the new place); each move's old copy is fenced until the next move or
// the grace period drops it.
func TestMoveTier(t *testing.T) {
	t.Parallel()
	e, db := newMoveEnv(t, nil)
	ctx := t.Context()
	acme := e.create(t, "acme", "acme.example")
	other := e.create(t, "other")
	seed(t, e.reg, acme, 50)
	seed(t, e.reg, other, 3)

	var phases []string
	res, err := e.reg.MoveTier(ctx, "acme", condo.TierDatabase, "", &condo.MoveTierOpts{Progress: func(p condo.MoveProgress) {
		phases = append(phases, p.Phase)
	}})
	if err != nil {
		t.Fatalf("MoveTier to database: %v", err)
	}
	if fmt.Sprint(phases) != "[prepared copied switched]" || res.Rows != 150 || res.WritePause <= 0 {
		t.Errorf("progress %v, rows %d, pause %s; want prepared copied switched, 150 rows, a pause", phases, res.Rows, res.WritePause)
	}
	moved, err := e.reg.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Tier != condo.TierDatabase || moved.Database == "" || moved.Server != "" {
		t.Fatalf("after the move: %+v", moved)
	}
	if h, r := counts(t, e.reg, "acme"); h != 50 || r != 100 {
		t.Errorf("acme in its database: %d hotels, %d rooms; want 50, 100", h, r)
	}
	if h, _ := counts(t, e.reg, "other"); h != 3 {
		t.Errorf("other: %d hotels, want 3", h)
	}
	if login, member := roleState(t, e.pool, acme.Role, db.RuntimeRole); !login || member {
		t.Errorf("database tier: role login %v, runtime member %v; want true, false", login, member)
	}
	// The struct from before the move: its transaction fails at the
	// fenced schema and runs again in the database.
	err = e.reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		if got, ok := condo.TenantFromContext(ctx); ok && got.Tier != condo.TierDatabase {
			return fmt.Errorf("context tenant tier %s", got.Tier)
		}
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('late', 'C', 3)")
		return err
	})
	if err != nil {
		t.Fatalf("InTx with the tenant as it was before the move: %v", err)
	}
	var fenced bool
	if err := e.pool.QueryRow(ctx, "SELECT to_regnamespace($1) IS NOT NULL", "condo_moved_"+acme.Schema).Scan(&fenced); err != nil || !fenced {
		t.Errorf("fenced old schema: %v, %v", fenced, err)
	}
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierDatabase, "main", nil); err == nil {
		t.Error("a move to where the tenant is succeeded")
	}

	// And back: the fenced schema of the first move goes first.
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierSchema, "", nil); err != nil {
		t.Fatalf("MoveTier back to schema: %v", err)
	}
	if h, r := counts(t, e.reg, "acme"); h != 51 || r != 100 {
		t.Errorf("acme back in the schema tier: %d hotels, %d rooms; want 51, 100", h, r)
	}
	if login, member := roleState(t, e.pool, acme.Role, db.RuntimeRole); login || !member {
		t.Errorf("schema tier: role login %v, runtime member %v; want false, true", login, member)
	}
	ms, err := e.reg.TierMoves(ctx)
	if err != nil || len(ms) != 1 || ms[0].Phase != condo.MoveSwitched || ms[0].From.Tier != condo.TierDatabase {
		t.Fatalf("TierMoves = %+v, %v; want the switched move back", ms, err)
	}
	if !exists(t, e.pool, "pg_database", moved.Database) {
		t.Error("the old database went before the grace period")
	}
	if done, err := e.reg.CleanupMoves(ctx, condo.DefaultMoveGrace); err != nil || len(done) != 0 {
		t.Errorf("CleanupMoves within the grace period: %v, %v", done, err)
	}
	if done, err := e.reg.CleanupMoves(ctx, 0); err != nil || len(done) != 1 {
		t.Errorf("CleanupMoves after the grace period: %v, %v", done, err)
	}
	if exists(t, e.pool, "pg_database", moved.Database) || !exists(t, e.pool, "pg_roles", acme.Role) {
		t.Error("cleanup: want the old database gone and the role (serving the schema tier) kept")
	}
	if ms, err := e.reg.TierMoves(ctx); err != nil || len(ms) != 0 {
		t.Errorf("TierMoves after cleanup: %+v, %v", ms, err)
	}
	if h, _ := counts(t, e.reg, "acme"); h != 51 {
		t.Errorf("acme after cleanup: %d hotels", h)
	}

	// A purge takes a move's old copy with it.
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierDatabase, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "acme", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatalf("purge after a move: %v", err)
	}
	var left bool
	if err := e.pool.QueryRow(ctx, "SELECT to_regnamespace($1) IS NOT NULL", "condo_moved_"+acme.Schema).Scan(&left); err != nil || left {
		t.Errorf("purge left the move's old copy: %v, %v", left, err)
	}
	if exists(t, e.pool, "pg_database", moved.Database) || exists(t, e.pool, "pg_roles", acme.Role) {
		t.Error("purge left the database or the role")
	}
}

// TestMoveTierSecondServer: schema → database on another server →
// database on the registry's server → schema; the role exists on the
// other server only while the tenant (or its old copy) is there.
func TestMoveTierSecondServer(t *testing.T) {
	t.Parallel()
	cluster := condotest.NewCluster(t)
	other := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Cluster: cluster, CreateDB: true, SkipMigrations: true})
	e, db := newMoveEnv(t, &condo.RegistryConfig{Servers: map[string]*pgxpool.Config{"eu": other.Pool.Config()}})
	ctx := t.Context()
	acme := e.create(t, "acme")
	seed(t, e.reg, acme, 20)
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierDatabase, "eu", nil); err != nil {
		t.Fatal(err)
	}
	ten, _ := e.reg.Get(ctx, "acme")
	var port uint16
	err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		port = tx.Conn().Config().Port
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('eu', 'C', 3)")
		return err
	})
	if err != nil || ten.Server != "eu" || port != uint16(cluster.Port()) {
		t.Fatalf("on eu: server %q, port %d (want %d), %v", ten.Server, port, cluster.Port(), err)
	}
	if _, member := roleState(t, e.pool, acme.Role, db.RuntimeRole); member {
		t.Error("the runtime role still reaches a tenant that left the schema tier")
	}
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierDatabase, "", nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := counts(t, e.reg, "acme"); h != 21 {
		t.Errorf("acme on main: %d hotels, want 21", h)
	}
	if _, err := e.reg.MoveTier(ctx, "acme", condo.TierSchema, "", nil); err != nil {
		t.Fatal(err)
	}
	if h, r := counts(t, e.reg, "acme"); h != 21 || r != 40 {
		t.Errorf("acme back in the schema tier: %d hotels, %d rooms", h, r)
	}
	if _, err := e.reg.CleanupMoves(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if exists(t, other.Pool, "pg_database", ten.Database) || exists(t, other.Pool, "pg_roles", acme.Role) {
		t.Error("the database or role stayed on eu")
	}
	if login, member := roleState(t, e.pool, acme.Role, db.RuntimeRole); login || !member {
		t.Errorf("schema tier: login %v, member %v", login, member)
	}
}

// TestMoveTierKill kills a move (its context cancelled) at each phase: the
// tenant is served from one place, the move is recorded in that phase,
// and it resumes, or rolls back leaving nothing behind (a new move then
// succeeds).
func TestMoveTierKill(t *testing.T) {
	t.Parallel()
	e, _ := newMoveEnv(t, nil)
	for i, c := range []struct {
		point, phase string
		from         condo.Tier
	}{
		{"target", condo.MoveStarted, condo.TierSchema},
		{"prepared", condo.MoveStarted, condo.TierSchema},
		{"copied", condo.MovePrepared, condo.TierSchema},
		{"finish", condo.MoveCopied, condo.TierSchema},
		{"switch", condo.MoveCopied, condo.TierSchema},
		{"target", condo.MoveStarted, condo.TierDatabase},
		{"copied", condo.MovePrepared, condo.TierDatabase},
		{"switch", condo.MoveCopied, condo.TierDatabase}, // the fence committed, the switch not
	} {
		for _, undo := range []string{"resume", "rollback"} {
			name := fmt.Sprintf("%s-%s-%s", c.from, c.point, undo)
			t.Run(name, func(t *testing.T) {
				slug := fmt.Sprintf("k%d%s", i, undo[:3])
				ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: slug, Tier: c.from})
				if err != nil {
					t.Fatal(err)
				}
				seed(t, e.reg, ten, 10)
				to := condo.TierDatabase
				if c.from == condo.TierDatabase {
					to = condo.TierSchema
				}
				ctx, cancel := context.WithCancel(t.Context())
				condo.SetMovePoint(e.reg, func(_ context.Context, p string) {
					if p == c.point {
						cancel()
					}
				})
				_, err = e.reg.MoveTier(ctx, slug, to, "", nil)
				condo.SetMovePoint(e.reg, nil)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("killed move: %v, want context.Canceled", err)
				}
				ms, err := e.reg.TierMoves(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				var phase string
				for _, m := range ms {
					if m.Slug == slug {
						phase = m.Phase
					}
				}
				if phase != c.phase {
					t.Errorf("recorded phase %q, want %q", phase, c.phase)
				}
				now, _ := e.reg.Get(t.Context(), slug)
				if now.Tier != c.from {
					t.Fatalf("killed move switched the registry to %s", now.Tier)
				}
				if c.point != "switch" || c.from == condo.TierSchema {
					// Served from the source, and writable there.
					if h, _ := counts(t, e.reg, slug); h != 10 {
						t.Errorf("after the kill: %d hotels", h)
					}
					seed(t, e.reg, now, 1)
				}
				want := 11
				if c.point == "switch" && c.from == condo.TierDatabase {
					want = 10 // fenced, not switched: served from nowhere until resumed or rolled back
				}
				if undo == "resume" {
					if _, err := e.reg.ResumeMove(t.Context(), slug, nil); err != nil {
						t.Fatalf("ResumeMove: %v", err)
					}
					if got, _ := e.reg.Get(t.Context(), slug); got.Tier != to {
						t.Errorf("resumed move left tier %s", got.Tier)
					}
				} else {
					if err := e.reg.RollbackMove(t.Context(), slug, nil); err != nil {
						t.Fatalf("RollbackMove: %v", err)
					}
					if got, _ := e.reg.Get(t.Context(), slug); got.Tier != c.from {
						t.Errorf("rolled back move left tier %s", got.Tier)
					}
					if _, err := e.reg.ResumeMove(t.Context(), slug, nil); !errors.Is(err, condo.ErrNoMove) {
						t.Errorf("ResumeMove after rollback: %v, want ErrNoMove", err)
					}
				}
				if h, r := counts(t, e.reg, slug); h != want || r != 2*want {
					t.Errorf("after %s: %d hotels, %d rooms; want %d, %d", undo, h, r, want, 2*want)
				}
				if undo == "rollback" {
					// Nothing left in the way of a new move.
					if _, err := e.reg.MoveTier(t.Context(), slug, to, "", nil); err != nil {
						t.Fatalf("move after rollback: %v", err)
					}
					if h, _ := counts(t, e.reg, slug); h != want {
						t.Errorf("after a new move: %d hotels", h)
					}
				}
			})
		}
	}
}

// TestMoveTierMigrate: a fleet migration refuses a tenant that is moving
// (the others migrate), and migrates it after the switch at its new place.
func TestMoveTierMigrate(t *testing.T) {
	t.Parallel()
	e, _ := newMoveEnv(t, nil)
	ctx := t.Context()
	e.create(t, "moving")
	e.create(t, "still")
	kill, cancel := context.WithCancel(ctx)
	condo.SetMovePoint(e.reg, func(_ context.Context, p string) {
		if p == "copied" {
			cancel()
		}
	})
	if _, err := e.reg.MoveTier(kill, "moving", condo.TierDatabase, "", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed move: %v", err)
	}
	condo.SetMovePoint(e.reg, nil)

	v2 := condotest.HotelMigrations()
	v2["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating int NOT NULL DEFAULT 3;")}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: v2, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg2 := condo.NewRegistry(e.pool, m2, &condo.RegistryConfig{SecretKey: testSecretKey, Logger: condotest.Logger(t)})
	defer reg2.Close()
	res, err := m2.MigrateTenants(ctx, reg2, nil)
	var pe *condomigrate.PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Tenant != "moving" || !errors.Is(err, condo.ErrMoveInProgress) {
		t.Fatalf("MigrateTenants during the move: %v, want the moving tenant refused with ErrMoveInProgress", err)
	}
	if res == nil || fmt.Sprint(res.Migrated) != "[still]" {
		t.Errorf("migrated %+v, want [still]", res)
	}
	if _, err := reg2.ResumeMove(ctx, "moving", nil); err != nil {
		t.Fatalf("ResumeMove: %v", err)
	}
	if _, err := m2.MigrateTenants(ctx, reg2, nil); err != nil {
		t.Fatalf("MigrateTenants after the switch: %v", err)
	}
	ten, _ := reg2.Get(ctx, "moving")
	if ten.Tier != condo.TierDatabase || ten.MigrationVersion != 2 {
		t.Errorf("moving: tier %s version %d; want database, 2", ten.Tier, ten.MigrationVersion)
	}
	err = reg2.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars, rating) VALUES ('H', 'C', 3, 5)")
		return err
	})
	if err != nil {
		t.Errorf("moving after its migration: %v", err)
	}
}
