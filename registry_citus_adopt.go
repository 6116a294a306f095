package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// DistributeTenants brings tenants made before Citus was installed into the
// cluster: each tenant whose schema is not distributed yet becomes a
// distributed schema (citus_schema_distribute moves its tables into a shard
// group on a worker) and its role may log in (the workers are reached as
// the tenant's role, see citusRoleLogin), one tenant per transaction. It
// returns the slugs brought in, in slug order, also when it stops at an
// error. Tenants of every status are included.
//
// Citus must be installed in the database with the workers added (their
// roles synchronised), and the owner's one-time set-up done
// (condomigrate's MigrateShared does it); a tenant table with a foreign key
// to a shared table that is not a reference table is refused by Citus,
// named in the error. Returns [ErrNotCitus] when the database is not a
// Citus coordinator.
func (r *Registry) DistributeTenants(ctx context.Context) ([]string, error) {
	citus, err := r.citusVersion(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	if citus == "" {
		return nil, ErrNotCitus
	}
	var done []string
	for after := ""; ; {
		page, err := r.List(ctx, ListParams{AllStatuses: true, After: after, Limit: 1000})
		if err != nil {
			return done, err
		}
		nodes, err := r.Nodes(ctx, page.Tenants)
		if err != nil {
			return done, err
		}
		for _, t := range page.Tenants {
			if _, ok := nodes[t.Schema]; ok {
				continue
			}
			if err := r.distributeTenant(ctx, t); err != nil {
				return done, err
			}
			done = append(done, t.Slug)
		}
		if page.Next == "" {
			return done, nil
		}
		after = page.Next
	}
}

func (r *Registry) distributeTenant(ctx context.Context, t *Tenant) error {
	if err := errors.Join(pgident.Validate("schema", t.Schema), pgident.Validate("role", t.Role)); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// One statement per query string (Citus forwards DDL's text).
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.citus_schema_distribute($1::regnamespace)", t.Schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "ALTER ROLE "+pgident.Quote(t.Role)+" LOGIN")
		return err
	})
	if err != nil {
		return fmt.Errorf("distribute tenant %q: %w", t.Slug, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant distributed", slog.String("tenant", t.Slug), slog.String("schema", t.Schema))
	return nil
}
