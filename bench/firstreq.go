package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
)

// firstRequests times, on the real W5 database, the first tenant read on a
// new pooled connection as the runtime role serving the tenant (issue 15's
// goal: under 50 ms at 100,000 tenants), for samples random tenants of
// t0001…t<n>, each on a pool of its own: the read alone (PostgreSQL 15
// computes the runtime role's memberships on the backend's first SET
// ROLE, so this is where the shard's size shows) and connect plus the
// read. The pools are opened one after another, so each backend is new.
func firstRequests(ctx context.Context, reg *condo.Registry, shardURLs []string, n, samples int) (string, error) {
	var reads, wholes []time.Duration
	for range samples {
		slug := fmt.Sprintf("t%04d", 1+rand.IntN(n))
		t, err := reg.Get(ctx, slug)
		if err != nil {
			return "", fmt.Errorf("first request: tenant %s: %w", slug, err)
		}
		read, whole, err := firstRequest(ctx, shardURLs[t.ID%int64(len(shardURLs))], t)
		if err != nil {
			return "", fmt.Errorf("first request: tenant %s: %w", slug, err)
		}
		reads, wholes = append(reads, read), append(wholes, whole)
	}
	slices.Sort(reads)
	slices.Sort(wholes)
	return fmt.Sprintf("W5s %d first request on a new pooled connection (%d tenants, one new pool each): read p50 %.1f ms, max %.1f ms; connect + read p50 %.1f ms, max %.1f ms; load %s",
		n, samples, ms(reads[len(reads)/2].Microseconds()), ms(reads[len(reads)-1].Microseconds()),
		ms(wholes[len(wholes)/2].Microseconds()), ms(wholes[len(wholes)-1].Microseconds()), loadAvg()), nil
}

// firstRequest opens a pool of one connection on url and reads t's hotels
// through it, as the server's shard pool would on a new connection.
func firstRequest(ctx context.Context, url string, t *condo.Tenant) (read, whole time.Duration, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return 0, 0, err
	}
	cfg.MaxConns, cfg.MinConns = 1, 0
	start := time.Now()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return 0, 0, err
	}
	connected := time.Now()
	err = condo.NewTenantPoolsOf(pool).QueryTenant(condo.WithTenant(ctx, t), func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}, "SELECT id, name FROM hotel")
	if err != nil {
		return 0, 0, err
	}
	return time.Since(connected), time.Since(start), nil
}
