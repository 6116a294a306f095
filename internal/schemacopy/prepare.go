package schemacopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// stateDDL makes the engine's own schema in the source's database: the
// change log and one row per move. Only the owner role may use it: tenant
// roles have no USAGE on it, so they can neither read the log nor write a
// row of their own into it; the capture trigger writes as the owner
// (SECURITY DEFINER, with a fixed search_path so that a tenant's
// search_path cannot redirect it).
var stateDDL = []string{
	`CREATE SCHEMA IF NOT EXISTS condo_schemacopy`,
	`REVOKE ALL ON SCHEMA condo_schemacopy FROM PUBLIC`,
	`CREATE TABLE IF NOT EXISTS condo_schemacopy.move (
    schema text PRIMARY KEY,
    phase  text NOT NULL CHECK (phase IN ('prepared', 'copied', 'fenced')),
    acl    text,
    fks    jsonb
)`,
	`CREATE TABLE IF NOT EXISTS condo_schemacopy.log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema text NOT NULL,
    tbl    text NOT NULL,
    pk     jsonb NOT NULL
)`,
	`CREATE INDEX IF NOT EXISTS log_schema ON condo_schemacopy.log (schema)`,
	`CREATE OR REPLACE FUNCTION condo_schemacopy.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    o jsonb;
    n jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        o := (SELECT jsonb_object_agg(c, to_jsonb(OLD) -> c) FROM unnest(TG_ARGV) c);
        INSERT INTO condo_schemacopy.log (schema, tbl, pk) VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, o);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        n := (SELECT jsonb_object_agg(c, to_jsonb(NEW) -> c) FROM unnest(TG_ARGV) c);
        IF o IS DISTINCT FROM n THEN
            INSERT INTO condo_schemacopy.log (schema, tbl, pk) VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, n);
        END IF;
    END IF;
    RETURN NULL;
END
$f$`,
	`REVOKE ALL ON FUNCTION condo_schemacopy.capture() FROM PUBLIC`,
}

// triggerName is the capture trigger on each source table.
const triggerName = "condo_schemacopy_capture"

// PhaseResult is what one phase did.
type PhaseResult struct {
	Duration time.Duration
	// Rows is the number of rows copied (Copy) or changes applied
	// (CatchUp).
	Rows int64
}

// Prepare starts capturing changes on the source: a trigger on every
// table logs the primary key of each row inserted, updated or deleted from
// now on. It checks that the target has the same tables and columns. It
// is idempotent, and writes wait for it only as long as creating a
// trigger takes.
//
// Returns a [*NoPrimaryKeyError] for a table without a primary key, a
// [*DefinitionError] when the target's tables differ, and [ErrFenced]
// when the move has been finished already.
func (m *Mover) Prepare(ctx context.Context) (*PhaseResult, error) {
	start := time.Now()
	srcTables, _, err := m.tables(ctx, m.src.Pool, m.src.Schema)
	if err != nil {
		return nil, err
	}
	if len(srcTables) == 0 {
		if phase, _ := m.phase(ctx); phase == "fenced" {
			return nil, ErrFenced
		}
	}
	for _, t := range srcTables {
		if len(t.PK) == 0 {
			return nil, &NoPrimaryKeyError{Table: t.Name}
		}
	}
	dstTables, _, err := m.tables(ctx, m.dst.Pool, m.dst.Schema)
	if err != nil {
		return nil, err
	}
	if err := compare(srcTables, dstTables); err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, m.src.Pool, func(tx pgx.Tx) error {
		// Two moves preparing in one database at once would race on
		// CREATE … IF NOT EXISTS.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('condo_schemacopy'))"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout TO "+fmt.Sprint(m.lockWait.Milliseconds())); err != nil {
			return err
		}
		for _, q := range stateDDL {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("state schema: %w", err)
			}
		}
		var phase string
		err := tx.QueryRow(ctx, `INSERT INTO condo_schemacopy.move (schema, phase) VALUES ($1, 'prepared')
ON CONFLICT (schema) DO UPDATE SET phase = move.phase RETURNING phase`, m.src.Schema).Scan(&phase)
		if err != nil {
			return err
		}
		if phase == "fenced" {
			return ErrFenced
		}
		for i, t := range srcTables {
			args := make([]string, len(t.PK))
			for i, c := range t.PK {
				args[i] = quoteLiteral(c)
			}
			// CREATE OR REPLACE: a Prepare run again replaces the trigger.
			q := "CREATE OR REPLACE TRIGGER " + triggerName + " AFTER INSERT OR UPDATE OR DELETE ON " +
				pgident.QuoteQualified(m.src.Schema, t.Name) +
				" FOR EACH ROW EXECUTE FUNCTION condo_schemacopy.capture(" + strings.Join(args, ", ") + ")"
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("capture trigger on %s: %w", t.Name, err)
			}
			if i == 0 {
				m.hook(ctx, "prepare:trigger")
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrFenced) {
			return nil, err
		}
		return nil, fmt.Errorf("prepare %s: %w", m.src.Schema, err)
	}
	res := &PhaseResult{Duration: time.Since(start)}
	m.log.LogAttrs(ctx, slog.LevelInfo, "schemacopy prepared", slogSchema(m.src.Schema), slogDur(res.Duration))
	return res, nil
}

// quoteLiteral quotes s as an SQL string literal (for trigger arguments,
// which cannot be parameters). Column names are identifiers PostgreSQL
// already accepted.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// phase returns the move's recorded phase, "" when there is none.
func (m *Mover) phase(ctx context.Context) (string, error) {
	return phaseIn(ctx, m.src.Pool, m.src.Schema)
}

// rowQuerier is what a pool and a transaction have in common.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func phaseIn(ctx context.Context, q rowQuerier, schema string) (string, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('condo_schemacopy.move') IS NOT NULL").Scan(&exists); err != nil {
		return "", fmt.Errorf("move state of %s: %w", schema, err)
	}
	if !exists {
		return "", nil
	}
	var phase string
	err := q.QueryRow(ctx, "SELECT phase FROM condo_schemacopy.move WHERE schema = $1", schema).Scan(&phase)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("move state of %s: %w", schema, err)
	}
	return phase, nil
}
