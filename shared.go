package condo

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
)

// sharedSuffix names the shared role after its runtime role.
const sharedSuffix = "_shared"

// SharedRoleName returns the name of the NOLOGIN role that holds the
// runtime role's grants on the application's shared tables
// ([GrantRuntimeOpts].Tables): runtime followed by "_shared". Returns a
// [*NameError] when that is no usable role name.
func SharedRoleName(runtime string) (string, error) {
	name := runtime + sharedSuffix
	if err := pgident.ValidateGiven("role", name); err != nil {
		return "", err
	}
	return name, nil
}

// SharedPool runs the application's own queries on its shared tables (the
// reference app's users, sessions, throttle counters) on the runtime
// role's pool, as the shared role ([SharedRoleName]): each call is one
// transaction whose first statement is set_config('role', shared, true),
// sent in the same round trip (a pipelined batch, one Sync). The shared
// role holds only the declared table grants; it is a member of no tenant
// role, and in a hardened database (see [HardenSQL]) may not call
// set_config, so an SQL injection in one statement of that code reaches
// the declared tables and nothing else. Stacked statements (RESET ROLE)
// return to the runtime role, which reaches the tenants, as with tenant
// code.
//
// With no role (one role for everything) it is the pool itself.
// Queries outside its methods run as the runtime role, which has no grant
// on shared tables, and fail.
type SharedPool struct {
	pool *pgxpool.Pool
	role string
}

// NewSharedPool returns a SharedPool over pool running as role, or as
// pool's own role when role is "".
func NewSharedPool(pool *pgxpool.Pool, role string) *SharedPool {
	return &SharedPool{pool: pool, role: role}
}

// Pool returns the pool queries run on.
func (p *SharedPool) Pool() *pgxpool.Pool { return p.pool }

// Role returns the role queries run as, "" for the pool's own.
func (p *SharedPool) Role() string { return p.role }

const setSharedRole = "SELECT pg_catalog.set_config('role', $1, true)"

// batch sends the role and sql in one round trip.
func (p *SharedPool) batch(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(setSharedRole, p.role)
	b.Queue(sql, args...)
	br := p.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("set shared role: %w", err)
	}
	return br, nil
}

// Exec runs sql as the shared role.
func (p *SharedPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.role == "" {
		return p.pool.Exec(ctx, sql, args...)
	}
	br, err := p.batch(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, closeErr(err, br))
}

// closeErr closes br and returns its error unless err already reports
// the failure.
func closeErr(err error, br pgx.BatchResults) error {
	cerr := br.Close()
	if err != nil {
		return nil
	}
	return cerr
}

// Query runs sql as the shared role. Close the rows (or read them to the
// end) to end the transaction and release the connection.
func (p *SharedPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.role == "" {
		return p.pool.Query(ctx, sql, args...)
	}
	br, err := p.batch(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, closeErr(err, br))
	}
	return &sharedRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql as the shared role; the row's Scan ends the
// transaction.
func (p *SharedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.role == "" {
		return p.pool.QueryRow(ctx, sql, args...)
	}
	rows, err := p.Query(ctx, sql, args...)
	return &sharedRow{rows: rows, err: err}
}

// Begin starts a transaction running as the shared role (with
// pgx.BeginFunc, for several statements).
func (p *SharedPool) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil || p.role == "" {
		return tx, err
	}
	if _, err := tx.Exec(ctx, setSharedRole, p.role); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("set shared role: %w", err)
	}
	return tx, nil
}

// sharedRows closes the batch (the transaction's end) with the rows.
type sharedRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *sharedRows) Next() bool {
	if r.closed {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *sharedRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = closeErr(r.Rows.Err(), r.br)
}

func (r *sharedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// sharedRow is [SharedPool.QueryRow]'s row, read as pgx reads one.
type sharedRow struct {
	rows pgx.Rows
	err  error
}

func (r *sharedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
