package schemacopy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/internal/pgident"
)

// execer is what a pool, a connection and a transaction have in common.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CatchUp applies the changes logged since the copy (or the last CatchUp)
// to the target, and returns how many rows it applied: call it until that
// is small, then [Mover.Finish]. The tenant keeps writing meanwhile.
//
// It reads the log and the changed rows in one snapshot of the source,
// so the target ends up equal to the source at that snapshot and its
// foreign keys hold; the log entries it read are deleted only after the
// target committed, so a kill replays them (applying a change twice is
// harmless: each logged key takes the row's current state). Returns
// [ErrNotPrepared], [ErrNotCopied] or [ErrFenced] out of order.
func (m *Mover) CatchUp(ctx context.Context) (*PhaseResult, error) {
	start := time.Now()
	switch phase, err := m.phase(ctx); {
	case err != nil:
		return nil, err
	case phase == "":
		return nil, ErrNotPrepared
	case phase == "prepared":
		return nil, ErrNotCopied
	case phase == "fenced":
		return nil, ErrFenced
	}
	ts, _, err := m.tables(ctx, m.src.Pool, m.src.Schema)
	if err != nil {
		return nil, err
	}
	tx, err := m.src.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("catch up %s: %w", m.src.Schema, err)
	}
	defer rollbackTx(ctx, tx)
	n, err := m.apply(ctx, tx, ts, nil)
	if err != nil {
		return nil, fmt.Errorf("catch up %s: %w", m.src.Schema, err)
	}
	m.hook(ctx, "catchup:applied")
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("catch up %s: %w", m.src.Schema, err)
	}
	res := &PhaseResult{Duration: time.Since(start), Rows: n}
	m.log.LogAttrs(ctx, slog.LevelInfo, "schemacopy caught up", slogSchema(m.src.Schema), slogRows(n), slogDur(res.Duration))
	return res, nil
}

// change is the logged keys of one table and the rows they have now.
type change struct {
	t    table
	gone string // JSON array of the keys ({pk column: value}) whose rows are gone
	rows string // JSON array of the rows that still exist
}

// apply moves the changes logged in src's snapshot to the target, in one
// target transaction, and deletes them from the log in src (the caller
// commits src after apply returns). before, if set, runs in the target
// transaction before it commits. It returns the number of keys applied.
func (m *Mover) apply(ctx context.Context, src pgx.Tx, ts []table, before func(pgx.Tx) error) (int64, error) {
	rows, err := src.Query(ctx, `WITH d AS (DELETE FROM condo_schemacopy.log WHERE schema = $1 RETURNING tbl, pk)
SELECT tbl, jsonb_agg(DISTINCT pk)::text, count(DISTINCT pk) FROM d GROUP BY tbl`, m.src.Schema)
	if err != nil {
		return 0, fmt.Errorf("read log: %w", err)
	}
	keys := map[string]string{}
	var total int64
	for rows.Next() {
		var tbl, k string
		var n int64
		if err := rows.Scan(&tbl, &k, &n); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read log: %w", err)
		}
		keys[tbl] = k
		total += n
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read log: %w", err)
	}
	var changes []change
	for _, t := range ts {
		k, ok := keys[t.Name]
		if !ok {
			continue
		}
		srcT := pgident.QuoteQualified(m.src.Schema, t.Name)
		var r, gone string
		err := src.QueryRow(ctx, "SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]')::text FROM "+srcT+" t WHERE ("+
			colList("t", t.PK)+") IN (SELECT "+colList("k", t.PK)+" FROM jsonb_populate_recordset(NULL::"+srcT+", $1::jsonb) k)", k).Scan(&r)
		if err != nil {
			return 0, fmt.Errorf("read changed rows of %s: %w", t.Name, err)
		}
		// The keys whose rows are gone, found by primary key lookups here
		// rather than by comparing both key lists on the target.
		err = src.QueryRow(ctx, "SELECT coalesce(jsonb_agg(k.x), '[]')::text FROM jsonb_array_elements($1::jsonb) k(x) "+
			"WHERE NOT EXISTS (SELECT FROM "+srcT+" t WHERE ("+colList("t", t.PK)+") = (SELECT "+colList("p", t.PK)+
			" FROM jsonb_populate_record(NULL::"+srcT+", k.x) p))", k).Scan(&gone)
		if err != nil {
			return 0, fmt.Errorf("read deleted keys of %s: %w", t.Name, err)
		}
		changes = append(changes, change{t: t, gone: gone, rows: r})
	}
	if len(changes) == 0 && before == nil {
		return 0, nil
	}
	err = pgx.BeginFunc(ctx, m.dst.Pool, func(dst pgx.Tx) error {
		// Children first for deletes, parents first for the rest: the
		// target's foreign keys hold after every statement.
		for _, c := range slices.Backward(changes) {
			if _, err := dst.Exec(ctx, deleteSQL(m.dst.Schema, c.t), c.gone); err != nil {
				return fmt.Errorf("delete from %s: %w", c.t.Name, err)
			}
		}
		for _, c := range changes {
			if _, err := dst.Exec(ctx, upsertSQL(m.dst.Schema, c.t), c.rows); err != nil {
				return fmt.Errorf("upsert into %s: %w", c.t.Name, err)
			}
		}
		if before != nil {
			return before(dst)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("apply to target: %w", err)
	}
	return total, nil
}

// deleteSQL deletes the target rows whose keys are in $1.
func deleteSQL(schema string, t table) string {
	qt := pgident.QuoteQualified(schema, t.Name)
	return "DELETE FROM " + qt + " t USING jsonb_populate_recordset(NULL::" + qt + ", $1::jsonb) k WHERE (" +
		colList("t", t.PK) + ") = (" + colList("k", t.PK) + ")"
}

// upsertSQL writes the source's rows ($1) over the target's.
// OVERRIDING SYSTEM VALUE: identity columns take the source's values.
func upsertSQL(schema string, t table) string {
	qt := pgident.QuoteQualified(schema, t.Name)
	var set []string
	for _, c := range t.Cols {
		if !slices.Contains(t.PK, c) {
			set = append(set, pgident.Quote(c)+" = EXCLUDED."+pgident.Quote(c))
		}
	}
	conflict := "DO NOTHING"
	if len(set) > 0 {
		conflict = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	return "INSERT INTO " + qt + " (" + colList("", t.Cols) + ") OVERRIDING SYSTEM VALUE SELECT " + colList("r", t.Cols) +
		" FROM jsonb_populate_recordset(NULL::" + qt + ", $1::jsonb) r ON CONFLICT (" + colList("", t.PK) + ") " + conflict
}
