package condo_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkRoleReserveSwitch times a live runtime backend's tenant switch
// right after a creation from the role reserve (no change to the role
// catalogs) and right after one that makes its role (every backend's
// cached memberships reset), with the runtime role a member of
// CONDO_RESERVE_ROLES (default 3000) other tenant roles: what the reserve
// saves each runtime backend per signup (README, "Tenant roles at
// scale"). The other roles are reserved under another prefix, which this
// registry's Create never takes. Run it with:
//
//	CONDO_RESERVE_ROLES=3000 go test -run '^$' -bench RoleReserveSwitch -benchtime 11x .
func BenchmarkRoleReserveSwitch(b *testing.B) {
	n := envInts(b, "CONDO_RESERVE_ROLES", "3000")[0]
	e := newEnv(b, nil, &condotest.DatabaseOpts{Runtime: true})
	ctx := b.Context()
	if _, err := condo.GrantRuntime(ctx, e.pool, e.db.RuntimeRole, nil); err != nil {
		b.Fatal(err)
	}
	others := condo.NewRegistry(e.pool, e.migrator, &condo.RegistryConfig{RolePrefix: "zzr_" + strconv.Itoa(int(time.Now().UnixNano()%1e9)) + "_",
		Logger: condotest.Logger(b)})
	t0 := time.Now()
	if _, err := others.ReserveRoles(ctx, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d roles reserved in %s", n, time.Since(t0).Round(time.Millisecond))
	b.Cleanup(func() { _, _ = others.ReserveRoles(ctx, 0) })
	first := e.create(b, "first")
	conn, err := pgx.Connect(ctx, e.db.RuntimeURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	sw := func() time.Duration {
		t0 := time.Now()
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true)", first.Role); err != nil {
			b.Fatal(err)
		}
		_ = tx.Rollback(ctx)
		return time.Since(t0)
	}
	var fromReserve, full []time.Duration
	i := 0
	for b.Loop() {
		if _, err := e.reg.ReserveRoles(ctx, 1); err != nil {
			b.Fatal(err)
		}
		sw()
		i++
		e.create(b, fmt.Sprintf("r%d", i))
		fromReserve = append(fromReserve, sw())
		e.create(b, fmt.Sprintf("f%d", i))
		full = append(full, sw())
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(med(fromReserve), "switch-after-reserved-create-ms")
	b.ReportMetric(med(full), "switch-after-full-create-ms")
	b.ReportMetric(loadAvg(), "load1")
}
