package condo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// tenantTx is the pgx.Tx that tenant code gets from [Registry.InTx]. Its
// Exec sends a statement without arguments with the extended protocol,
// as pgx does for one with arguments, so PostgreSQL refuses a string that
// holds several statements ("cannot insert multiple commands into a
// prepared statement"): text injected into it can't stack RESET ROLE; …
// behind the application's statement. pgx's own Exec sends such a string
// with the simple protocol, which runs every statement in it.
//
// So Exec without arguments takes SQL text only, not the name of a
// statement prepared with Prepare (pass arguments, or use Query, for
// that). Code that means to send several statements at once can still
// say so, with pgx.QueryExecModeSimpleProtocol or the PgConn.
type tenantTx struct{ pgx.Tx }

// Exec runs sql with the extended protocol; see [tenantTx].
func (t tenantTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(args) > 0 {
		return t.Tx.Exec(ctx, sql, args...)
	}
	return t.Tx.Conn().PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Close()
}

// Begin starts a savepoint that keeps the same Exec.
func (t tenantTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return tenantTx{tx}, nil
}
