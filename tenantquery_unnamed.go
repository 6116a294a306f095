package condo

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// describedPerConn bounds the query descriptions kept per connection
// behind a transaction pooler; past it the cache starts over. A
// description is a few hundred bytes on the client and nothing on the
// server.
const describedPerConn = 1024

// describeCache holds, per client connection, the descriptions
// (argument and result types) of the queries QueryTenant ran on it
// through a transaction pooler. Nothing is kept on the server: the
// pooler may give the next transaction any server connection.
type describeCache map[string]*pgconn.StatementDescription

func describeCacheOf(c *pgx.Conn) describeCache {
	cd := c.PgConn().CustomData()
	if dc, ok := cd["condo.tenantquery.unnamed"].(describeCache); ok {
		return dc
	}
	dc := describeCache{}
	cd["condo.tenantquery.unnamed"] = dc
	return dc
}

// queryTenantUnnamed is QueryTenant behind a transaction pooler. It sends
// one pipeline ending in one Sync (so one implicit transaction, which a
// transaction pooler runs on one server connection): the set_config of
// the tenant's search_path and role, and the query, each as the unnamed
// statement (Parse, Bind, Describe portal, Execute). The query's
// argument types and result formats come from a description cached on c;
// the first time, it is obtained in one more round trip, by a Describe
// after the same set_config, so names resolve in the tenant's schema.
//
// The cached types can only be stale after a migration: the arguments
// are sent with the types declared in the Parse, so the server converts
// or refuses them, never misreads them; rows are decoded with the types
// of this run's own Describe; and a result column count that changed makes
// the server refuse the Bind before anything runs, after which the query
// is described again and run once more. Any other error forgets the
// description, so the next call describes again.
func queryTenantUnnamed(ctx context.Context, c *pgx.Conn, t *Tenant, lim *queryLimits, fn func(pgx.Rows) error, sql string, args []any) error {
	dc := describeCacheOf(c)
	sd := dc[sql]
	fresh := sd == nil
	var err error
	if fresh {
		if sd, err = describeTenant(ctx, c, t, lim, sql); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		if len(dc) >= describedPerConn {
			clear(dc)
		}
		dc[sql] = sd
	}
	err = queryTenantUnnamedOnce(ctx, c, sd, t, lim, fn, args)
	if err != nil {
		delete(dc, sql)
	}
	if !fresh && isResultFormatMismatch(err) {
		if sd, err = describeTenant(ctx, c, t, lim, sql); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		dc[sql] = sd
		if err = queryTenantUnnamedOnce(ctx, c, sd, t, lim, fn, args); err != nil {
			delete(dc, sql)
		}
	}
	return err
}

// isResultFormatMismatch reports whether err is PostgreSQL refusing a
// Bind whose result formats do not match the query's columns ("bind
// message has N result formats but query has M columns"): the query's
// columns changed since it was described.
func isResultFormatMismatch(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.ProtocolViolation
}

func queryTenantUnnamedOnce(ctx context.Context, c *pgx.Conn, sd *pgconn.StatementDescription, t *Tenant, lim *queryLimits, fn func(pgx.Rows) error, args []any) error {
	tm := c.TypeMap()
	params, formats, results, err := encodeArgs(tm, sd, args)
	if err != nil {
		return err
	}
	b := &pgconn.Batch{}
	b.ExecParams(setTenantLocal, setTenantParams(t, lim), nil, nil, nil)
	b.ExecParams(sd.SQL, params, sd.ParamOIDs, formats, results)
	mrr := c.PgConn().ExecBatch(ctx, b)
	err = readPipelined(tm, mrr, fn)
	if cerr := mrr.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// describeTenant describes sql as the unnamed statement after setting the
// tenant's search_path and role, in one pipeline and one implicit
// transaction.
func describeTenant(ctx context.Context, c *pgx.Conn, t *Tenant, lim *queryLimits, sql string) (*pgconn.StatementDescription, error) {
	p := c.PgConn().StartPipeline(ctx)
	p.SendQueryParams(setTenantLocal, setTenantParams(t, lim), nil, nil, nil)
	p.SendPrepare("", sql, nil)
	if err := p.Sync(); err != nil {
		_ = p.Close()
		return nil, err
	}
	var sd *pgconn.StatementDescription
	err := syncPipeline(p, func(r *pgconn.StatementDescription) {
		r.Name, r.SQL = "", sql
		sd = r
	})
	if err != nil {
		return nil, err
	}
	if sd == nil {
		return nil, errors.New("no statement description")
	}
	return sd, nil
}
