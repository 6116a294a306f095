package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// rowQuerier is a pool, a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// citusVersion returns the citus extension's version in the registry's
// database, or "" when it is not a Citus coordinator. Read once, through q:
// inside a transaction, pass the transaction, so that a pool of one
// connection does not wait for a second.
func (r *Registry) citusVersion(ctx context.Context, q rowQuerier) (string, error) {
	r.prefixMu.Lock()
	defer r.prefixMu.Unlock()
	if r.citusRead {
		return r.citus, nil
	}
	err := q.QueryRow(ctx, "SELECT COALESCE((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), '')").Scan(&r.citus)
	if err != nil {
		return "", fmt.Errorf("detect citus: %w", err)
	}
	r.citusRead = true
	return r.citus, nil
}

// citusCreatePrefix starts a tenant's creation on Citus: its schema
// becomes a distributed schema (a shard group Citus places on a worker and
// can move) whatever the cluster's default for schema-based sharding.
func citusCreatePrefix(citus string) string {
	if citus == "" {
		return ""
	}
	return "SET LOCAL citus.enable_schema_based_sharding TO on;\n"
}

// citusRoleLogin is the login attribute of a new tenant role. Citus runs a
// distributed query on the workers over a connection of the current role,
// which inside a tenant transaction is the tenant's (SET LOCAL ROLE): on
// Citus the role must be allowed to log in, or every query of a tenant
// table fails with `role "…" is not permitted to log in`. It gets no
// password, so it can log in only where pg_hba.conf lets it in without one:
// the workers, from the coordinator (README, "Scaling out").
func citusRoleLogin(citus string) string {
	if citus == "" {
		return " NOLOGIN"
	}
	return " LOGIN"
}

// ErrNotCitus is returned by [Registry.Nodes] and [Registry.Move] when the
// registry's database is not a Citus coordinator.
var ErrNotCitus = errors.New("not a Citus coordinator (no citus extension in the database)")

// Node is a Citus node's address, as pg_dist_node has it.
type Node struct {
	Host string
	Port int
}

func (n Node) String() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// Nodes returns the node that holds each tenant's schema on Citus, keyed by
// schema name (a tenant's tables are one shard group, so one node). A
// tenant whose schema is not distributed (made before Citus) is absent.
// Returns [ErrNotCitus] when the database is not a Citus coordinator.
func (r *Registry) Nodes(ctx context.Context, ts []*Tenant) (map[string]Node, error) {
	citus, err := r.citusVersion(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	if citus == "" {
		return nil, ErrNotCitus
	}
	schemas := make([]string, len(ts))
	for i, t := range ts {
		schemas[i] = t.Schema
	}
	rows, err := r.pool.Query(ctx, `
		SELECT DISTINCT ON (n.nspname) n.nspname, dn.nodename, dn.nodeport
		FROM pg_catalog.pg_dist_shard ds
		JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = ds.shardid
		JOIN pg_catalog.pg_dist_node dn ON dn.groupid = pl.groupid AND dn.noderole = 'primary'
		JOIN pg_catalog.pg_class c ON c.oid = ds.logicalrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1)
		ORDER BY n.nspname`, schemas)
	if err != nil {
		return nil, fmt.Errorf("tenant placements: %w", err)
	}
	out := make(map[string]Node, len(ts))
	var schema string
	var n Node
	if _, err := pgx.ForEachRow(rows, []any{&schema, &n.Host, &n.Port}, func() error { out[schema] = n; return nil }); err != nil {
		return nil, fmt.Errorf("tenant placements: %w", err)
	}
	return out, nil
}

// Move moves a tenant's schema to another Citus node online, with
// citus_schema_move in its default mode: Citus copies the tables and
// follows their changes by logical replication, then blocks writes to the
// tenant only for the switch-over, so reads and writes are served
// throughout. Every table of a tenant needs a replica identity (a primary
// key, or REPLICA IDENTITY FULL as Condo's migration history has);
// otherwise Citus refuses and names the table. Moving a tenant to the node
// it is on does nothing.
//
// Returns [ErrTenantNotFound], and [ErrNotCitus] when the database is not a
// Citus coordinator.
func (r *Registry) Move(ctx context.Context, slug string, to Node) error {
	t, err := r.Get(ctx, slug)
	if err != nil {
		return err
	}
	nodes, err := r.Nodes(ctx, []*Tenant{t})
	if err != nil {
		return err
	}
	from, ok := nodes[t.Schema]
	if ok && from == to {
		return nil
	}
	if _, err := r.pool.Exec(ctx, "SELECT pg_catalog.citus_schema_move($1::regnamespace, $2::text, $3::int)", t.Schema, to.Host, to.Port); err != nil {
		return fmt.Errorf("move tenant %q from %s to %s: %w", slug, from, to, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant moved", slog.String("tenant", slug),
		slog.String("from", from.String()), slog.String("to", to.String()))
	return nil
}

// ClusterNode is one node of a Citus cluster as [Registry.Cluster] reports it.
type ClusterNode struct {
	Node
	Role     string // "coordinator" or "worker"
	Active   bool   // pg_dist_node.isactive
	Tenants  int    // tenant schemas placed on it
	WALLevel string // "logical" is needed to move tenants online
}

// ClusterInfo describes the Citus cluster a registry's database belongs to,
// for checks such as the CLI's doctor.
type ClusterInfo struct {
	Version string // the citus extension's version
	// SchemaSharding is citus.enable_schema_based_sharding on the
	// coordinator (Condo sets it for each creation anyway).
	SchemaSharding bool
	// OwnerSetUp is whether the registry's role is recorded as distributed,
	// the one-time set-up that migrate does (README, "Scaling out").
	OwnerSetUp bool
	Nodes      []ClusterNode
}

// Cluster describes the Citus cluster: version, settings, and each node with
// the number of tenant schemas on it. Returns [ErrNotCitus] when the
// database is not a Citus coordinator.
func (r *Registry) Cluster(ctx context.Context) (*ClusterInfo, error) {
	citus, err := r.citusVersion(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	if citus == "" {
		return nil, ErrNotCitus
	}
	info := &ClusterInfo{Version: citus}
	err = r.pool.QueryRow(ctx, `SELECT current_setting('citus.enable_schema_based_sharding')::bool,
		EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object WHERE classid = 'pg_catalog.pg_authid'::regclass
		        AND objid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))`).Scan(&info.SchemaSharding, &info.OwnerSetUp)
	if err != nil {
		return nil, fmt.Errorf("citus settings: %w", err)
	}
	rows, err := r.pool.Query(ctx, `
		SELECT dn.nodename, dn.nodeport, CASE WHEN dn.groupid = 0 THEN 'coordinator' ELSE 'worker' END, dn.isactive,
			(SELECT count(DISTINCT c.relnamespace) FROM pg_catalog.pg_dist_placement pl
			   JOIN pg_catalog.pg_dist_shard ds ON ds.shardid = pl.shardid
			   JOIN pg_catalog.pg_class c ON c.oid = ds.logicalrelid
			   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			   JOIN public.condo_tenants t ON t.schema_name = n.nspname
			 WHERE pl.groupid = dn.groupid)::int,
			COALESCE(w.result, '')
		FROM pg_catalog.pg_dist_node dn
		LEFT JOIN pg_catalog.run_command_on_all_nodes('SHOW wal_level') w ON w.nodeid = dn.nodeid AND w.success
		WHERE dn.noderole = 'primary'
		ORDER BY dn.groupid, dn.nodename, dn.nodeport`)
	if err != nil {
		return nil, fmt.Errorf("citus nodes: %w", err)
	}
	var n ClusterNode
	if _, err := pgx.ForEachRow(rows, []any{&n.Host, &n.Port, &n.Role, &n.Active, &n.Tenants, &n.WALLevel}, func() error {
		info.Nodes = append(info.Nodes, n)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("citus nodes: %w", err)
	}
	return info, nil
}
