package condo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
)

// QueryTenant runs one query in the tenant from ctx and calls fn with its
// rows, in a single round trip to the database: the tenant's search_path
// and role (set_config(..., true), the SET LOCAL of a parameter) and the
// query go out together as one pipelined message sequence ending in one
// Sync, which PostgreSQL runs as one transaction. Nothing outlives it, as
// with [Registry.InTenantTx], and the tenant's role confines the query to
// the tenant's schema.
//
// It is meant for reads, the bulk of a SaaS's requests: it has no explicit
// BEGIN READ ONLY … COMMIT (two more statements that cost about a quarter
// of the database's throughput here, see BENCHMARKS.md), so a statement
// that writes is committed. Use [Registry.InTenantTx] for writes and for
// several statements.
//
// The first time a query runs for a tenant on a pooled connection it is
// prepared, with the tenant's search_path and role in force, in one more
// round trip; after that the tenant's prepared statement is reused. A
// statement whose result columns a migration has changed is prepared
// again. Past a bound on the statements per connection, tenants share
// one statement, which PostgreSQL re-analyses whenever the search_path
// differs from the one it was planned with, so each tenant still sees its
// own tables.
//
// fn must consume the rows before returning (as with pgx.ForEachRow or
// pgx.CollectRows); its error, or the query's, is returned. Returns
// [ErrNoTenant] when ctx has no tenant, [ErrDatabaseUnavailable] and
// [ErrStatementTimeout] as [Registry.InTx] does.
//
// Behind a transaction pooler (a pool whose DefaultQueryExecMode uses no
// named statements, as [ConfigurePool] sets it) nothing is prepared: the
// query goes out as an unnamed statement in the same single pipeline,
// with its argument and result types taken from a description cached on
// the client connection (see queryTenantUnnamed).
//
// A query that failed at the tenant's old place because the tenant moved
// between tiers meanwhile runs once more at its new place (tx_moved.go).
func (r *Registry) QueryTenant(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error {
	err := queryTenant(ctx, r.acquireFor, r.limits.Load(), fn, sql, args)
	if err == nil {
		return nil
	}
	if t, ok := TenantFromContext(ctx); ok {
		if nt, ok := r.movedTenant(ctx, t, err); ok {
			return queryTenant(WithTenant(ctx, nt), r.acquireFor, r.limits.Load(), fn, sql, args)
		}
	}
	return err
}

// acquireFunc takes a connection for tenant t, waiting at most d (see
// [Registry.acquireFor]).
type acquireFunc func(ctx context.Context, t *Tenant, d time.Duration) (conn *pgxpool.Conn, release func(), unnamed bool, err error)

func queryTenant(ctx context.Context, acquireFor acquireFunc, lim *queryLimits, fn func(pgx.Rows) error, sql string, args []any) error {
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
	conn, release, unnamed, err := acquireFor(ctx, t, lim.acquire)
	if err != nil {
		return fmt.Errorf("tenant %q query: %w", t.Slug, err)
	}
	defer release()
	c := conn.Conn()
	if unnamed {
		if err := queryTenantUnnamed(ctx, c, t, lim, fn, sql, args); err != nil {
			return dbError(fmt.Errorf("tenant %q query: %w", t.Slug, err))
		}
		return nil
	}
	st := tenantConnState(c)
	sd := st.lookup(t.Schema, sql)
	fresh := sd == nil
	if fresh {
		if sd, err = queryTenantPrepare(ctx, c, st, t, lim, sql); err != nil {
			return dbError(fmt.Errorf("tenant %q query: prepare: %w", t.Slug, err))
		}
	}
	err = queryTenantPipelined(ctx, c, st, sd, t, lim, fn, args)
	if !fresh && (isStalePlan(err) || isMissingStatement(err)) {
		// A migration changed what the query returns since it was
		// prepared here, or something deallocated the connection's
		// statements (DEALLOCATE ALL, DISCARD ALL in a pool hook):
		// prepare again, once. Nothing ran (PostgreSQL refuses at Bind),
		// so running it again is safe.
		if isMissingStatement(err) {
			st.reset()
		} else {
			st.drop(sql, sd)
		}
		if sd, err = queryTenantPrepare(ctx, c, st, t, lim, sql); err == nil {
			err = queryTenantPipelined(ctx, c, st, sd, t, lim, fn, args)
		}
	}
	if err != nil {
		return dbError(fmt.Errorf("tenant %q query: %w", t.Slug, err))
	}
	return nil
}

// isMissingStatement reports whether err is PostgreSQL not knowing a
// prepared statement this connection prepared.
func isMissingStatement(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.InvalidSQLStatementName
}

// isStalePlan reports whether err is PostgreSQL refusing a prepared
// statement whose result columns changed (an ALTER TABLE since it was
// prepared, say), which only preparing it again cures. Its SQLSTATE,
// feature_not_supported, is shared with unrelated errors; the server
// routine that raises it ("cached plan must not change result type") tells
// it apart without reading the message, which lc_messages translates.
func isStalePlan(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.FeatureNotSupported &&
		pgErr.Routine == "RevalidateCachedQuery"
}

const (
	// The statement timeout goes with the tenant, per transaction; NULL
	// keeps the server's setting.
	setTenantLocal = "SELECT set_config('search_path', $1, true), set_config('role', $2, true), set_config('statement_timeout', coalesce($3, current_setting('statement_timeout')), true)"
	setTenantName  = "condo_set_tenant"
)

// tenantStmtsPerConn bounds the tenant queries each pooled connection
// keeps prepared per tenant (see [connState]). Each costs the backend some
// memory (W5 in BENCHMARKS.md: ~8 MiB more per backend for ~625 tenants
// per connection); 1024 covers W5's tenants per connection with
// [TenantPools] of 16.
const tenantStmtsPerConn = 1024

// stmtKey names a query as prepared under one tenant's search_path.
type stmtKey struct{ schema, sql string }

// connState is what QueryTenant keeps on each pooled connection: the
// statement that sets the tenant, and the tenant queries prepared so far.
// A connection is used by one goroutine at a time, so it needs no lock.
//
// A query is prepared once per tenant (schema) on the connection, up to
// tenantStmtsPerConn statements: PostgreSQL re-analyses a prepared statement
// whenever the search_path differs from the one it was prepared under, which
// roughly doubles its cost per request, so a statement kept per tenant is
// always run with its own search_path. Past the bound, a tenant's query
// runs the first statement prepared for that SQL (under another tenant),
// which PostgreSQL re-analyses for the tenant's search_path: correct, only
// slower.
type connState struct {
	set      *pgconn.StatementDescription
	prepared map[stmtKey]*pgconn.StatementDescription
	shared   map[string]*pgconn.StatementDescription
	n        int
	stale    []string // statements to deallocate on the next prepare
}

func tenantConnState(c *pgx.Conn) *connState {
	cd := c.PgConn().CustomData()
	if st, ok := cd["condo.tenantquery"].(*connState); ok {
		return st
	}
	st := &connState{
		prepared: map[stmtKey]*pgconn.StatementDescription{},
		shared:   map[string]*pgconn.StatementDescription{},
	}
	cd["condo.tenantquery"] = st
	return st
}

// lookup returns the statement to run sql with in schema, or nil when it
// has to be prepared first.
func (st *connState) lookup(schema, sql string) *pgconn.StatementDescription {
	if sd := st.prepared[stmtKey{schema, sql}]; sd != nil {
		return sd
	}
	if len(st.prepared) >= tenantStmtsPerConn {
		return st.shared[sql]
	}
	return nil
}

// reset forgets every statement: the server no longer has them.
func (st *connState) reset() {
	st.set = nil
	clear(st.prepared)
	clear(st.shared)
	st.stale = st.stale[:0]
}

// drop forgets sd, prepared for sql, wherever it is kept, and queues it
// for deallocation.
func (st *connState) drop(sql string, sd *pgconn.StatementDescription) {
	for k, v := range st.prepared {
		if v == sd {
			delete(st.prepared, k)
		}
	}
	if st.shared[sql] == sd {
		delete(st.shared, sql)
	}
	st.stale = append(st.stale, sd.Name)
}

// queryTenantPipelined sends Bind/Execute for the set_config statement and
// for the query, then one Sync: one write, one round trip, one implicit
// transaction.
func queryTenantPipelined(ctx context.Context, c *pgx.Conn, st *connState, sd *pgconn.StatementDescription, t *Tenant, lim *queryLimits, fn func(pgx.Rows) error, args []any) error {
	tm := c.TypeMap()
	params, formats, results, err := encodeArgs(tm, sd, args)
	if err != nil {
		return err
	}
	b := &pgconn.Batch{}
	b.ExecStatement(st.set, setTenantParams(t, lim), nil, nil)
	b.ExecStatement(sd, params, formats, results)
	mrr := c.PgConn().ExecBatch(ctx, b)
	err = readPipelined(tm, mrr, fn)
	if cerr := mrr.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// encodeArgs encodes args for sd's parameters and picks the result
// formats of sd's columns.
func encodeArgs(tm *pgtype.Map, sd *pgconn.StatementDescription, args []any) (params [][]byte, formats, results []int16, err error) {
	if len(args) != len(sd.ParamOIDs) {
		return nil, nil, nil, fmt.Errorf("query has %d parameters, got %d arguments", len(sd.ParamOIDs), len(args))
	}
	if len(args) > 0 {
		params, formats = make([][]byte, len(args)), make([]int16, len(args))
		for i, a := range args {
			oid := sd.ParamOIDs[i]
			formats[i] = tm.FormatCodeForOID(oid)
			buf, err := tm.Encode(oid, formats[i], a, nil)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("encode argument %d: %w", i+1, err)
			}
			params[i] = buf
		}
	}
	results = make([]int16, len(sd.Fields))
	for i, f := range sd.Fields {
		results[i] = tm.FormatCodeForOID(f.DataTypeOID)
	}
	return params, formats, results, nil
}

// setTenantParams are setTenantLocal's parameters for t.
func setTenantParams(t *Tenant, lim *queryLimits) [][]byte {
	return [][]byte{[]byte(pgident.Quote(t.Schema)), []byte(t.Role), statementTimeoutParam(lim.statement)}
}

func readPipelined(tm *pgtype.Map, mrr *pgconn.MultiResultReader, fn func(pgx.Rows) error) error {
	if !mrr.NextResult() {
		return mrr.Close()
	}
	if _, err := mrr.ResultReader().Close(); err != nil {
		return err
	}
	if !mrr.NextResult() {
		return mrr.Close()
	}
	rows := pgx.RowsFromResultReader(tm, mrr.ResultReader())
	ferr := fn(rows)
	rows.Close()
	if ferr != nil {
		return ferr
	}
	return rows.Err()
}

// queryTenantPrepare prepares sql for the tenant on c in one round trip:
// Bind/Execute of the set_config statement, then Parse and Describe of
// the query, then Sync, so the query is analysed with the tenant's
// search_path and role in force (a name another tenant's schema would
// resolve to is never seen) in the same implicit transaction. It also
// prepares the set_config statement the first time, and deallocates
// statements dropped since the last call.
func queryTenantPrepare(ctx context.Context, c *pgx.Conn, st *connState, t *Tenant, lim *queryLimits, sql string) (*pgconn.StatementDescription, error) {
	p := c.PgConn().StartPipeline(ctx)
	for _, name := range st.stale {
		p.SendDeallocate(name)
	}
	newSet := st.set == nil
	if newSet {
		p.SendPrepare(setTenantName, setTenantLocal, nil)
	}
	p.SendQueryPrepared(setTenantName, setTenantParams(t, lim), nil, nil)
	st.n++
	name := "condo_tq_" + strconv.Itoa(st.n)
	p.SendPrepare(name, sql, nil)
	if err := p.Sync(); err != nil {
		_ = p.Close()
		return nil, err
	}
	var sd *pgconn.StatementDescription
	err := syncPipeline(p, func(r *pgconn.StatementDescription) {
		// The pipeline does not name them; they come in order.
		if newSet && st.set == nil {
			r.Name, r.SQL = setTenantName, setTenantLocal
			// Kept even if a later step fails: the statement exists.
			st.set = r
		} else {
			r.Name, r.SQL = name, sql
			sd = r
		}
	})
	if err != nil {
		return nil, err
	}
	if sd == nil || st.set == nil {
		return nil, errors.New("no statement description")
	}
	st.stale = st.stale[:0]
	st.prepared[stmtKey{t.Schema, sql}] = sd
	if st.shared[sql] == nil {
		st.shared[sql] = sd
	}
	return sd, nil
}

// syncPipeline reads p's results up to its Sync and closes it, passing
// each statement description to described in the order the statements
// were sent, and returns the first error. A *pgconn.PgError makes
// PostgreSQL skip the rest up to the Sync, so reading goes on to it; any
// other error has closed the connection.
func syncPipeline(p *pgconn.Pipeline, described func(*pgconn.StatementDescription)) error {
	var firstErr error
	for done := false; !done; {
		res, err := p.GetResults()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				break
			}
			continue
		}
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			described(r)
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil && firstErr == nil {
				firstErr = err
			}
		case *pgconn.PipelineSync, nil:
			done = true
		}
	}
	if err := p.Close(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}
