package condo

// The database tier's checks for operators (doctor): databases no tenant
// points at, and what each server allows.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// OrphanDatabase is a tenant database no registry row points at: left by
// a creation or a purge that died between its steps (see
// [Registry.Create], [Registry.Delete]).
type OrphanDatabase struct {
	Server   string // "" for the registry's
	Database string
}

// OrphanDatabases lists, on every configured server, the databases named
// like this registry's tenant databases (<prefix>tenant_<id>) that no
// tenant's row names. It only reads: dropping one is an operator's
// decision (its data may be all that is left of a purge gone wrong).
func (r *Registry) OrphanDatabases(ctx context.Context) ([]OrphanDatabase, error) {
	var prefix string
	known := map[string]bool{}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		if prefix, err = r.prefix(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT COALESCE(server, ''), database_name FROM public.condo_tenants WHERE database_name IS NOT NULL")
		if err != nil {
			return err
		}
		var server, db string
		_, err = pgx.ForEachRow(rows, []any{&server, &db}, func() error {
			known[server+"\x00"+db] = true
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orphan databases: %w", err)
	}
	names := make([]string, 0, len(r.tier.servers))
	for name := range r.tier.servers {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []OrphanDatabase
	for _, name := range names {
		server := name
		if server == MainServer {
			server = ""
		}
		conn, err := r.tier.connectAs(ctx, server, "")
		if err != nil {
			return out, fmt.Errorf("orphan databases: %w", err)
		}
		rows, err := conn.Query(ctx, "SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, $1) ORDER BY datname", prefix+"tenant_")
		var dbs []string
		if err == nil {
			dbs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return out, fmt.Errorf("orphan databases on %q: %w", name, err)
		}
		for _, db := range dbs {
			if rest := strings.TrimPrefix(db, prefix+"tenant_"); rest == "" || strings.Trim(rest, "0123456789") != "" {
				continue // not one of ours
			}
			if !known[server+"\x00"+db] {
				out = append(out, OrphanDatabase{Server: server, Database: db})
			}
		}
	}
	return out, nil
}

// ServerStatus is what [Registry.CheckServers] found on one server.
type ServerStatus struct {
	Name string
	// Tenants counts the database-tier tenants (not purged) on it.
	Tenants int
	// CreateDB and CreateRole: whether the configured role has them, as
	// the database tier needs.
	CreateDB, CreateRole bool
	// Err is set when the server could not be asked.
	Err error
}

// Servers returns the names of the servers database-tier tenants may live
// on: [MainServer] first, then the others of [RegistryConfig].Servers in
// name order.
func (r *Registry) Servers() []string {
	names := make([]string, 0, len(r.tier.servers))
	for name := range r.tier.servers {
		if name != MainServer {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return append([]string{MainServer}, names...)
}

// CheckServers connects to every configured server ([MainServer] first)
// and reports whether its role may hold database-tier tenants, and how
// many it holds. Returns an error only when the registry can't be read.
func (r *Registry) CheckServers(ctx context.Context) ([]ServerStatus, error) {
	counts := map[string]int{}
	rows, err := r.pool.Query(ctx, "SELECT COALESCE(server, ''), count(*)::int FROM public.condo_tenants WHERE tier = 'database' GROUP BY 1")
	if err != nil {
		return nil, fmt.Errorf("check servers: %w", err)
	}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { counts[serverKey(name)] = n; return nil }); err != nil {
		return nil, fmt.Errorf("check servers: %w", err)
	}
	var out []ServerStatus
	for _, name := range r.Servers() {
		st := ServerStatus{Name: name, Tenants: counts[name]}
		server := name
		if server == MainServer {
			server = ""
		}
		conn, err := r.tier.connectAs(ctx, server, "")
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT rolcreatedb, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user").Scan(&st.CreateDB, &st.CreateRole)
			conn.Close(context.WithoutCancel(ctx))
		}
		st.Err = err
		out = append(out, st)
	}
	return out, nil
}
