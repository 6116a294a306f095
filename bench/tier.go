package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// The database tier (README "Tiers") under W3's load.

// tierEvery puts every tierEvery-th tenant (t0010, t0020, …) in the
// database tier: 10% of W3's 100.
const tierEvery = 10

// tierKey is the bench's secret key sealing database-tier passwords: a
// fixed one, so a seeded database is reused from run to run.
func tierKey() []byte {
	k := sha256.Sum256([]byte("condo bench tier key"))
	return k[:]
}

// tierHBA is the bench cluster's client authentication for w3tier: the
// superuser and the databases' owners (the servers' pools) are trusted
// as on every other workload; every other role, the database tier's
// tenant roles among them, logs in with SCRAM-SHA-256 as in production,
// so a tier pool's connect costs what it costs there.
func tierHBA() []string {
	return []string{
		"local all all trust",
		"host all postgres,w3,w3tier,w1tier 127.0.0.1/32 trust",
		"host all all 127.0.0.1/32 scram-sha-256",
	}
}

// runW3Tier is W3 with 10% of its 100 tenants in the database tier
// (database w3tier, seeded alike through the registry), the server set up
// as the README tells an operator (the secret key; the tier's pool sizes
// and cap at their defaults, within max_connections), interleaved with
// W3 (all schema tier) in the same run. Both servers' samples are checked
// for wrong-tenant rows before and after the runs.
func runW3Tier(ctx context.Context, e *env) ([]string, error) {
	url, err := seedTiered(ctx, e.admin, e.cl, "w3tier", 100, &tierSeed{every: tierEvery, key: tierKey()})
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, e.o, url, "tenant", "w3tier", "-secret-key", hex.EncodeToString(tierKey()), "-tier-pool-conns", strconv.Itoa(e.o.tierConn))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := checkSample(ctx, srv.addr, 100, e.o.sample); err != nil {
		return nil, fmt.Errorf("W3 tier check: %w", err)
	}
	load0 := loadAvg()
	w3, wt, mem, err := interleave(ctx, e, srv, 100, " (tier pair)", "W3 10% database tier")
	if err != nil {
		return nil, err
	}
	load1 := loadAvg()
	for _, s := range []*server{e.w3srv, srv} {
		if err := checkSample(ctx, s.addr, 100, e.o.sample); err != nil {
			return nil, fmt.Errorf("%s check after the runs: %w", s.name, err)
		}
	}
	m3, mt := median(w3), median(wt)
	return append(e.w3Lines(w3, mem),
		fmt.Sprintf("W3t 100 tenants, 10 in the database tier: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d (median of %d); tier/schema req/s %.3f (median of per-run ratios %.3f), p99 %.3f; %d responses checked on each server before and after, 0 wrong-tenant rows; load %s → %s",
			mt.rps(), ms(mt.P50), ms(mt.P99), sumNon2xx(wt), sumErrors(wt), len(wt), mt.rps()/m3.rps(), medianRatio(wt, w3), float64(mt.P99)/float64(m3.P99),
			e.o.sample, load0, load1)), nil
}
