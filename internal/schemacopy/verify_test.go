package schemacopy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/schemacopy"
)

// TestVerifyCatchesCorruption changes the target behind the engine's
// back (a value, then a row too many): Finish fails with ErrMismatch,
// nothing is switched or fenced, and the tenant keeps writing the source.
func TestVerifyCatchesCorruption(t *testing.T) {
	t.Parallel()
	for name, corrupt := range map[string]string{
		"value": "UPDATE tenant_1.room SET price = price + 1 WHERE id = 7",
		"row":   "INSERT INTO tenant_1.hotel (id, name, city, stars) OVERRIDING SYSTEM VALUE VALUES (100000, 'ghost', 'x', 1)",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			e := newEnv(t)
			seed(t, e.src.Pool, 30, 3)
			m := e.mover(t)
			if _, err := m.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Copy(ctx); err != nil {
				t.Fatal(err)
			}
			mustExec(t, e.dst.Pool, corrupt)
			switched := false
			_, err := m.Finish(ctx, schemacopy.FinishOpts{SwitchInSourceTx: true, Switch: func(context.Context, pgx.Tx) error {
				switched = true
				return nil
			}})
			var mm *schemacopy.MismatchError
			if !errors.Is(err, schemacopy.ErrMismatch) || !errors.As(err, &mm) || len(mm.Tables) != 1 {
				t.Fatalf("Finish: got %v, want one table mismatched", err)
			}
			t.Log(err)
			if switched || !schemaExists(t, e.src.Pool, schema) {
				t.Fatalf("switched %v, source live %v; want false, true", switched, schemaExists(t, e.src.Pool, schema))
			}
			e.write(t, 1)
			if err := m.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPrepareRefuses: a table without a primary key cannot be caught up,
// and a target migrated differently cannot receive the rows.
func TestPrepareRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	mustExec(t, e.dst.Pool, "ALTER TABLE tenant_1.room ADD COLUMN floor int")
	var de *schemacopy.DefinitionError
	if _, err := e.mover(t).Prepare(ctx); !errors.As(err, &de) || de.Table != "room" {
		t.Fatalf("different target: got %v, want a DefinitionError for room", err)
	}
	mustExec(t, e.src.Pool, "CREATE TABLE tenant_1.audit (at timestamptz, what text)")
	var pe *schemacopy.NoPrimaryKeyError
	if _, err := e.mover(t).Prepare(ctx); !errors.As(err, &pe) || pe.Table != "audit" {
		t.Fatalf("table without a key: got %v, want a NoPrimaryKeyError for audit", err)
	}
}

// TestLogWall: the tenant's role can neither read the change log nor
// write to it, nor call the capture function; its own writes are logged.
func TestLogWall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	seed(t, e.src.Pool, 5, 1)
	m := e.mover(t)
	if _, err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	e.write(t, 1)
	for _, q := range []string{
		"SELECT count(*) FROM condo_schemacopy.log",
		"INSERT INTO condo_schemacopy.log (schema, tbl, pk) VALUES ('tenant_1', 'hotel', '{\"id\": 1}')",
		"DELETE FROM condo_schemacopy.log",
		"UPDATE condo_schemacopy.move SET phase = 'fenced'",
		"SELECT condo_schemacopy.capture()",
		"DROP TRIGGER condo_schemacopy_capture ON hotel",
		"ALTER TABLE hotel DISABLE TRIGGER condo_schemacopy_capture",
	} {
		err := e.tenantTx(ctx, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, q); return err })
		if got := sqlState(err); got != "42501" {
			t.Errorf("%s as the tenant: got %v, want insufficient_privilege (42501)", q, err)
		}
	}
	var n int
	if err := e.src.Pool.QueryRow(ctx, "SELECT count(*) FROM condo_schemacopy.log").Scan(&n); err != nil || n != 3 {
		t.Errorf("log: %d entries (%v), want 3 (insert, update, delete)", n, err)
	}
}
