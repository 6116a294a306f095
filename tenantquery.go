package condo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// QueryTenant runs one read-only query in the tenant from ctx and calls fn
// with its rows, in a single round trip to the database: BEGIN READ ONLY,
// the tenant's search_path and role (set_config(..., true), the SET LOCAL
// of a parameter), the query and COMMIT go out together as one pipelined
// batch. Use it for the requests that only read, which are most of them;
// use [Registry.InTenantTx] for anything else.
//
// fn must consume the rows before returning (as with pgx.ForEachRow or
// pgx.CollectRows); its error, or the query's, is returned. Returns
// [ErrNoTenant] when ctx has no tenant.
func (r *Registry) QueryTenant(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error {
	t, ok := TenantFromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	if err := pgident.Validate("schema", t.Schema); err != nil {
		return err
	}
	if err := pgident.Validate("role", t.Role); err != nil {
		return err
	}
	// The statements are constant apart from the query, so they are
	// prepared once per connection and each call sends only Bind/Execute.
	b := &pgx.Batch{}
	b.Queue("BEGIN READ ONLY")
	b.Queue("SELECT set_config('search_path', $1, true), set_config('role', $2, true)", pgident.Quote(t.Schema), t.Role)
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := r.pool.SendBatch(ctx, b)
	err := queryTenantBatch(br, fn)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tenant %q query: %w", t.Slug, err)
	}
	return nil
}

func queryTenantBatch(br pgx.BatchResults, fn func(pgx.Rows) error) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	ferr := fn(rows)
	rows.Close()
	if ferr != nil {
		return ferr
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = br.Exec()
	return err
}
