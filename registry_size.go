package condo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
)

// TenantSize is what a tenant's schema holds: its tables' disk size
// (with indexes and TOAST) and their estimated live rows (from the
// statistics collector, as of the last vacuum or analyze; Condo's own
// migration history is left out of the rows).
type TenantSize struct {
	Bytes int64
	Rows  int64
}

// Sizes returns the size of each tenant's schema, keyed by schema name, in
// one query (two on Citus) however many tenants there are. On Citus the
// coordinator holds only empty placeholder tables, so the sizes come from
// the shards, wherever they are placed (citus_shard_sizes), and the rows
// from every node's statistics (run_command_on_all_nodes).
func (r *Registry) Sizes(ctx context.Context, ts []*Tenant) (map[string]TenantSize, error) {
	schemas := make([]string, 0, len(ts))
	for _, t := range ts {
		if err := pgident.Validate("schema", t.Schema); err != nil {
			return nil, err
		}
		schemas = append(schemas, t.Schema)
	}
	out := make(map[string]TenantSize, len(schemas))
	if len(schemas) == 0 {
		return out, nil
	}
	citus, err := r.citusVersion(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	if citus != "" {
		return r.citusSizes(ctx, schemas, out)
	}
	rows, err := r.pool.Query(ctx, `
		SELECT n.nspname,
			COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint,
			COALESCE(sum(s.n_live_tup) FILTER (WHERE c.relname <> $2), 0)::bigint
		FROM pg_catalog.pg_namespace n
		LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r'
		LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
		WHERE n.nspname = ANY($1) GROUP BY n.nspname`, schemas, condomigrate.HistoryTable)
	if err != nil {
		return nil, fmt.Errorf("schema sizes: %w", err)
	}
	var name string
	var s TenantSize
	if _, err := pgx.ForEachRow(rows, []any{&name, &s.Bytes, &s.Rows}, func() error { out[name] = s; return nil }); err != nil {
		return nil, fmt.Errorf("schema sizes: %w", err)
	}
	return out, nil
}

func (r *Registry) citusSizes(ctx context.Context, schemas []string, out map[string]TenantSize) (map[string]TenantSize, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT n.nspname, sum(z.size)::bigint
		FROM pg_catalog.citus_shard_sizes() z
		JOIN pg_catalog.pg_dist_shard d ON d.shardid = z.shard_id
		JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1)
		GROUP BY 1`, schemas)
	if err != nil {
		return nil, fmt.Errorf("citus shard sizes: %w", err)
	}
	var name string
	var bytes int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &bytes}, func() error {
		out[name] = TenantSize{Bytes: bytes}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("citus shard sizes: %w", err)
	}
	// Shards are tables named after their table and shard id (hotel_102008)
	// in the tenant's schema on the node that holds them.
	lits := make([]string, len(schemas))
	for i, s := range schemas {
		lits[i] = quoteLiteral(s) // validated names
	}
	// The history's shards: condo_migrations_<shard id>.
	history := quoteLiteral(strings.ReplaceAll(condomigrate.HistoryTable, "_", `\_`) + "%")
	cmd := `SELECT COALESCE(json_object_agg(schemaname, n), '{}') FROM (
		SELECT schemaname, sum(n_live_tup) AS n FROM pg_catalog.pg_stat_user_tables
		WHERE schemaname IN (` + strings.Join(lits, ", ") + `) AND relname NOT LIKE ` + history + `
		GROUP BY schemaname) s`
	rows, err = r.pool.Query(ctx, "SELECT success, result FROM pg_catalog.run_command_on_all_nodes($1)", cmd)
	if err != nil {
		return nil, fmt.Errorf("citus row counts: %w", err)
	}
	var ok bool
	var result string
	if _, err := pgx.ForEachRow(rows, []any{&ok, &result}, func() error {
		if !ok {
			return fmt.Errorf("a node answered: %s", result)
		}
		var counts map[string]int64
		if err := json.Unmarshal([]byte(result), &counts); err != nil {
			return err
		}
		for s, n := range counts {
			z := out[s]
			z.Rows += n
			out[s] = z
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("citus row counts: %w", err)
	}
	return out, nil
}
