package condocli

import (
	"context"
	"fmt"

	"github.com/condo-dev/condo/condostack"
)

// catalogSQL reads the size of this database's system catalogs (tables
// and their indexes) and shared_buffers, both in bytes. The size
// functions need no privilege.
const catalogSQL = `SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::bigint,
	pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_buffers'))
FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r'`

// checkCatalog is doctor's check of the system catalogs against
// shared_buffers. Every tenant adds its tables, columns, constraints and
// types to them (~46 KB a tenant of the reference app: 4.6 GB at 100,000),
// and a backend's first request for a tenant reads that tenant's rows to
// build its caches. When the catalogs do not fit in shared_buffers those
// reads go to the kernel: at 100,000 tenants with 128 MB, 23 % of the
// runtime backends' time was pread, and W5 served 0.15× W3's requests
// against 0.44× with 4 GB and warm caches (BENCHMARKS.md, "W5 at
// 100,000").
func checkCatalog(ctx context.Context, st *condostack.Stack) checkResult {
	var catalog, buffers int64
	if err := st.Pool.QueryRow(ctx, catalogSQL).Scan(&catalog, &buffers); err != nil {
		return failf("catalog", "cannot read the catalog's size or shared_buffers: %v", err)
	}
	return catalogResult(catalog, buffers)
}

func catalogResult(catalog, buffers int64) checkResult {
	const name = "catalog"
	what := fmt.Sprintf("system catalogs %s, shared_buffers %s", humanBytes(catalog), humanBytes(buffers))
	if catalog > buffers {
		return warnf(name, "%s: a connection's first request for a tenant reads that tenant's catalog rows from the kernel, not from PostgreSQL's buffers; raise shared_buffers above the catalogs' size (a quarter of the server's memory is PostgreSQL's usual advice; README, Tenant roles at scale)", what)
	}
	return okf(name, "%s", what)
}
