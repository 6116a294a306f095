package condocli

import (
	"strings"
	"testing"
	"time"
)

// The verdicts at their edges, which a real server cannot be made to show
// (an old version, a skewed clock, a role's connection limit).
func TestDoctorVerdicts(t *testing.T) {
	t.Parallel()
	base := dbFacts{version: "15.8", versionNum: 150008, user: "app", db: "app", createRole: true,
		connLimit: -1, ownsDB: true, ownsPublic: true, createInDB: true, createInPub: true,
		maxConns: 100, reserved: 3}
	with := func(f func(*dbFacts)) *dbFacts { d := base; f(&d); return &d }
	one := doctorFlags{instances: 1, dbConns: 20}
	tests := []struct {
		name   string
		got    checkResult
		status checkStatus
		says   string
	}{
		{"14 is too old", checkVersion(with(func(d *dbFacts) { d.version, d.versionNum = "14.12", 140012 })), statusFail, "older than 15"},
		{"15 is supported", checkVersion(&base), statusOK, "16 and newer add"},
		{"18", checkVersion(with(func(d *dbFacts) { d.version, d.versionNum = "18.4", 180004 })), statusOK, "PostgreSQL 18.4"},
		{"superuser", checkRole(with(func(d *dbFacts) { d.superuser = true })), statusWarn, "production should"},
		{"no CREATEROLE", checkRole(with(func(d *dbFacts) { d.createRole = false })), statusFail, "ALTER ROLE app CREATEROLE"},
		{"privileges without ownership", checkOwnership(with(func(d *dbFacts) { d.ownsDB = false; d.dbOwner = "admin" })), statusWarn, "owner admin"},
		{"no CREATE on public", checkOwnership(with(func(d *dbFacts) { d.createInPub = false })), statusFail, "ALTER SCHEMA public OWNER TO app"},
		{"fits", checkConnections(&base, one), statusOK, "= 21 of 97"},
		{"tight", checkConnections(&base, doctorFlags{instances: 4, dbConns: 20}), statusWarn, "= 84 of 97"},
		{"too many", checkConnections(&base, doctorFlags{instances: 5, dbConns: 20}), statusFail, "= 105, but the server takes 97"},
		{"tenant pools double", checkConnections(&base, doctorFlags{instances: 1, dbConns: 20, tenantPools: 4}), statusOK, "(--db-conns 20, 20 more for --tenant-pools, 1 listener) = 41 of 97"},
		{"tenant pools on Citus", checkConnections(with(func(d *dbFacts) { d.citus = true }), one), statusOK, "(--db-conns 20, 20 more for the tenant pools serve opens on Citus, 1 listener) = 41 of 97"},
		{"tenant pools on Citus, too many", checkConnections(with(func(d *dbFacts) { d.citus = true }), doctorFlags{instances: 3, dbConns: 20}), statusFail, "= 123, but the server takes 97"},
		{"role limit", checkConnections(with(func(d *dbFacts) { d.connLimit = 10 }), one), statusFail, "connection limit of role app"},
		{"superuser gets the reserved slots", checkConnections(with(func(d *dbFacts) { d.superuser = true }), doctorFlags{instances: 1, dbConns: 98}), statusWarn, "= 99 of 100"},
		{"clock in step", checkClock(with(func(d *dbFacts) { d.skew, d.skewError = 300*time.Millisecond, time.Millisecond })), statusOK, "agree within"},
		{"clock ahead", checkClock(with(func(d *dbFacts) { d.skew = 3 * time.Second })), statusWarn, "3s ahead of"},
		{"clock behind", checkClock(with(func(d *dbFacts) { d.skew = -time.Minute })), statusFail, "1m0s behind"},
		// A slow round trip leaves the measure uncertain: no warning for
		// what may be the network.
		{"uncertain", checkClock(with(func(d *dbFacts) { d.skew, d.skewError = 1500*time.Millisecond, time.Second })), statusOK, "agree within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.status != tt.status || !strings.Contains(tt.got.msg, tt.says) {
				t.Errorf("got %s %q, want %s with %q", tt.got.status, tt.got.msg, tt.status, tt.says)
			}
		})
	}
}
