package schemacopy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// fkey is one foreign key of the target. Copy drops the target's foreign
// keys while it loads and adds them back after: checking each row as it
// arrives costs a key lookup per row (about 25 µs: 25 s of a 100 MB
// copy), validating once afterwards is one join. The definitions are kept
// in the move's row first, so a Copy or Rollback run after a kill puts
// back the keys a killed Copy had dropped.
type fkey struct {
	Table, Name, Def string
}

// dropTargetKeys records the target's foreign keys (unless a killed Copy
// recorded them already) and drops them.
func (m *Mover) dropTargetKeys(ctx context.Context) ([]fkey, error) {
	fks, err := m.savedKeys(ctx)
	if err != nil {
		return nil, err
	}
	if fks == nil {
		err := pgx.BeginFunc(ctx, m.dst.Pool, func(tx pgx.Tx) error {
			// Definitions name the referenced table with its schema only
			// when it is not on the search_path.
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO ''"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT cl.relname::text, c.conname::text, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = $1 AND c.contype = 'f' ORDER BY 1, 2`, m.dst.Schema)
			if err != nil {
				return err
			}
			fks, err = pgx.CollectRows(rows, pgx.RowToStructByPos[fkey])
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read target foreign keys: %w", err)
		}
		if fks == nil {
			fks = []fkey{}
		}
		b, err := json.Marshal(fks)
		if err != nil {
			return nil, err
		}
		if _, err := m.src.Pool.Exec(ctx, "UPDATE condo_schemacopy.move SET fks = $2::jsonb WHERE schema = $1", m.src.Schema, string(b)); err != nil {
			return nil, fmt.Errorf("record target foreign keys: %w", err)
		}
	}
	err = pgx.BeginFunc(ctx, m.dst.Pool, func(tx pgx.Tx) error {
		for _, k := range fks {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+pgident.QuoteQualified(m.dst.Schema, k.Table)+
				" DROP CONSTRAINT IF EXISTS "+pgident.Quote(k.Name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drop target foreign keys: %w", err)
	}
	return fks, nil
}

// savedKeys returns the foreign keys a Copy recorded, nil when none did.
func (m *Mover) savedKeys(ctx context.Context) ([]fkey, error) {
	if phase, err := m.phase(ctx); err != nil || phase == "" {
		return nil, err
	}
	var b []byte
	err := m.src.Pool.QueryRow(ctx, "SELECT fks::text FROM condo_schemacopy.move WHERE schema = $1", m.src.Schema).Scan(&b)
	if err != nil && err != pgx.ErrNoRows {
		return nil, fmt.Errorf("read recorded foreign keys: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	var fks []fkey
	if err := json.Unmarshal(b, &fks); err != nil {
		return nil, fmt.Errorf("read recorded foreign keys: %w", err)
	}
	return fks, nil
}

// restoreTargetKeys adds back those of fks the target lacks, validating
// each against the rows with one query.
func (m *Mover) restoreTargetKeys(ctx context.Context, fks []fkey) error {
	err := pgx.BeginFunc(ctx, m.dst.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO ''"); err != nil {
			return err
		}
		for _, k := range fks {
			var exists bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = $1 AND cl.relname = $2 AND c.conname = $3)`,
				m.dst.Schema, k.Table, k.Name).Scan(&exists)
			if err != nil || exists {
				return err
			}
			// Def comes from pg_get_constraintdef on this same table.
			if _, err := tx.Exec(ctx, "ALTER TABLE "+pgident.QuoteQualified(m.dst.Schema, k.Table)+
				" ADD CONSTRAINT "+pgident.Quote(k.Name)+" "+k.Def); err != nil {
				return fmt.Errorf("%s on %s: %w", k.Name, k.Table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore target foreign keys: %w", err)
	}
	return nil
}
