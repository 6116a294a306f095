package condo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgexec"
	"github.com/condo-dev/condo/internal/sqlsplit"
)

// execScript runs the statements of sql, which Condo builds itself, in one
// round trip but each as a query string of its own (internal/pgexec): on
// Citus a multi-statement string reaches the workers whole with the DDL it
// holds. The error is the failed statement's, unwrapped, so callers keep
// translating SQLSTATEs as before.
func execScript(ctx context.Context, tx pgx.Tx, sql string) error {
	stmts, err := sqlsplit.Split(sql)
	if err != nil {
		return fmt.Errorf("split statements: %w", err)
	}
	if err := pgexec.Each(ctx, tx.Conn().PgConn(), stmts); err != nil {
		if pe, ok := err.(*pgexec.Error); ok {
			return pe.Err
		}
		return err
	}
	return nil
}
