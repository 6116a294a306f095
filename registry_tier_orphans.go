package condo

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
