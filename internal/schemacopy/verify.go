package schemacopy

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/condo-dev/condo/internal/pgident"
)

// TableCheck is one table's verification: row count and checksum on
// each side.
type TableCheck struct {
	Table                  string
	SourceRows, TargetRows int64
	SourceSum, TargetSum   string
}

// OK reports whether both sides agree.
func (c TableCheck) OK() bool {
	return c.SourceRows == c.TargetRows && c.SourceSum == c.TargetSum
}

// checksumSQL counts a table's rows and sums a 64-bit hash of each row's
// text form: one sequential scan, no sort, independent of row order. Both
// sides have the same column definitions, so equal rows have equal text.
func checksumSQL(schema, name string) string {
	return "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM " +
		pgident.QuoteQualified(schema, name) + " t"
}

// verify compares every table of srcSchema (on the source) with the
// target's, all tables and both sides at once up to 2×Parallel queries.
// It returns a [*MismatchError] when any table differs.
func (m *Mover) verify(ctx context.Context, srcSchema string, ts []table) ([]TableCheck, error) {
	checks := make([]TableCheck, len(ts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * m.parallel)
	for i, t := range ts {
		checks[i].Table = t.Name
		g.Go(func() error {
			err := m.src.Pool.QueryRow(gctx, checksumSQL(srcSchema, t.Name)).Scan(&checks[i].SourceRows, &checks[i].SourceSum)
			if err != nil {
				return fmt.Errorf("checksum source %s: %w", t.Name, err)
			}
			return nil
		})
		g.Go(func() error {
			err := m.dst.Pool.QueryRow(gctx, checksumSQL(m.dst.Schema, t.Name)).Scan(&checks[i].TargetRows, &checks[i].TargetSum)
			if err != nil {
				return fmt.Errorf("checksum target %s: %w", t.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var bad []TableCheck
	for _, c := range checks {
		if !c.OK() {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		return checks, &MismatchError{Tables: bad}
	}
	return checks, nil
}
