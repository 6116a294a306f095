package schemacopy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// table is what the engine needs to know of one table of the schema.
type table struct {
	Name string
	// Cols are the stored columns in attribute order (generated columns
	// are left out: neither COPY FROM nor INSERT may set them).
	Cols []string
	// Types are the columns' types, to compare both sides.
	Types []string
	PK    []string
	// Parents are the tables of the schema this one references.
	Parents []string
}

// querier is what a pool, a connection and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// tables lists the ordinary tables of schema, ordered parents first (by
// foreign key; a cycle keeps the name order), and its sequences.
func tables(ctx context.Context, q querier, schema string) ([]table, []string, error) {
	rows, err := q.Query(ctx, `
SELECT c.relname,
       array(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY a.attnum),
       array(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY a.attnum),
       coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                 FROM pg_constraint p, unnest(p.conkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
                 WHERE p.conrelid = c.oid AND p.contype = 'p' AND a.attrelid = c.oid AND a.attnum = k.attnum), '{}'),
       array(SELECT DISTINCT r.relname::text FROM pg_constraint f
             JOIN pg_class r ON r.oid = f.confrelid
             WHERE f.conrelid = c.oid AND f.contype = 'f' AND r.relnamespace = c.relnamespace AND r.oid <> c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r'
ORDER BY c.relname`, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	var ts []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.Name, &t.Cols, &t.Types, &t.PK, &t.Parents); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("list tables of %s: %w", schema, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	rows, err = q.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY c.relname`, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("list sequences of %s: %w", schema, err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, fmt.Errorf("list sequences of %s: %w", schema, err)
	}
	return levels(ts), seqs, nil
}

// tables is [tables] without the tables the Mover skips (Config.Skip).
func (m *Mover) tables(ctx context.Context, q querier, schema string) ([]table, []string, error) {
	ts, seqs, err := tables(ctx, q, schema)
	if err != nil || len(m.skip) == 0 {
		return ts, seqs, err
	}
	ts = slices.DeleteFunc(ts, func(t table) bool { return slices.Contains(m.skip, t.Name) })
	return ts, seqs, nil
}

// levels orders ts so that every table comes after the tables it
// references (Kahn's algorithm); tables in a cycle come last, by name.
// Copying in this order satisfies the target's foreign keys.
func levels(ts []table) []table {
	done := map[string]bool{}
	var out []table
	for len(out) < len(ts) {
		progress := false
		for _, t := range ts {
			if done[t.Name] {
				continue
			}
			ready := true
			for _, p := range t.Parents {
				if !done[p] {
					ready = false
				}
			}
			if ready {
				out = append(out, t)
				done[t.Name] = true
				progress = true
			}
		}
		if !progress {
			for _, t := range ts {
				if !done[t.Name] {
					out = append(out, t)
					done[t.Name] = true
				}
			}
		}
	}
	return out
}

// compare checks that the target has the same tables and columns as the
// source, so that rows copied in binary land in the same places.
func compare(src, dst []table) error {
	byName := map[string]table{}
	for _, t := range dst {
		byName[t.Name] = t
	}
	for _, s := range src {
		d, ok := byName[s.Name]
		switch {
		case !ok:
			return &DefinitionError{Table: s.Name, Reason: "missing on the target"}
		case !slices.Equal(s.Cols, d.Cols) || !slices.Equal(s.Types, d.Types):
			return &DefinitionError{Table: s.Name, Reason: fmt.Sprintf("columns (%s) on the source, (%s) on the target",
				strings.Join(s.Cols, ", "), strings.Join(d.Cols, ", "))}
		case !slices.Equal(s.PK, d.PK):
			return &DefinitionError{Table: s.Name, Reason: "primary keys differ"}
		}
		delete(byName, s.Name)
	}
	for name := range byName {
		return &DefinitionError{Table: name, Reason: "missing on the source"}
	}
	return nil
}

// colList is the quoted, comma-separated list of names, prefixed with
// alias and a dot when alias is not empty.
func colList(alias string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgident.Quote(n)
		if alias != "" {
			q[i] = alias + "." + q[i]
		}
	}
	return strings.Join(q, ", ")
}
