// Package condotest provides test helpers for code built on Condo: one
// throwaway PostgreSQL cluster per test process, one database per test, and a
// logger that writes to the test log.
//
// # The cluster
//
// The first helper that needs a server starts one (initdb and postgres in a
// temporary directory, on a free loopback port) and [Main] stops it after the
// tests ran. Set CONDO_TEST_DATABASE_URL to a superuser connection string to
// use a running server instead, or CONDO_PG_BIN to the directory of the
// server binaries to run (e.g. PostgreSQL 18 next to Debian's 15; see
// internal/pgcluster). The throwaway server runs with fsync off
// unless CONDO_TEST_DURABLE=1 (for benchmarks that must be realistic). When no PostgreSQL binaries are found the
// helpers fail the test with a message naming the package to install.
//
// # A cluster of a test's own
//
// A test that stops the database (a fault test) takes a private server with
// [NewCluster]: [Cluster.Shutdown] stops it (fast or immediate, as pg_ctl
// would), [Cluster.Restart] starts it again on the same data directory and
// port, and [NewDatabaseInfo] with [DatabaseOpts].Cluster makes the test's
// database on it. Under CONDO_TEST_DATABASE_URL it still starts its own
// server: a shared one cannot be restarted.
//
// # Citus
//
// [NewCitusDatabase] makes a test's database on a Citus cluster (a
// coordinator and two workers, schema-based sharding on, wal_level=logical)
// that [Citus] starts on first use, once per test process, from the
// PostgreSQL that has Citus installed (see internal/citus), and [Main]
// stops. The owner is, again, a login role with CREATEROLE that is not a
// superuser. Without Citus the test is skipped, or fails when
// CONDO_REQUIRE_TOOLS is set.
//
// # Goroutine leaks
//
// After tests that passed, [Main] waits up to 5 seconds for every goroutine
// they started to end, and fails the run with the stacks of those that do
// not, except a short allowlist of library goroutines that live on purpose
// (certmagic's per-CA rate limiters, Pebble's validation loop, signal
// handling), each documented in leak.go.
//
// # Databases
//
// [NewDatabase] creates a database owned by a fresh unprivileged login role
// with CREATEROLE (as a production deployment would have), with Condo's
// shared migrations applied, and drops database and roles when the test
// ends. The migrations run once per test process, on a template database
// that each test's database is copied from (CREATE DATABASE … TEMPLATE),
// its tables handed to the test's role. Its pool sets search_path to the
// empty string on every connection, so a query that relies on a
// search_path outside a tenant transaction fails loudly. The database is
// made as the benchmark and the reference app's dev command make theirs
// (internal/pgcluster's CreateDatabase).
//
// # Waiting
//
// [WaitFor] polls a condition that can only be observed from outside (a
// served page, a log line) until it holds, and fails the test when it does
// not within a timeout. Tests never sleep to let something happen, nor to
// show that something did not.
//
// # PgBouncer
//
// [NewPgBouncer] puts a real PgBouncer (Debian's pgbouncer package) in
// front of a test's database, in pool_mode = transaction with a small pool
// unless told otherwise, and [PgBouncer.Pool] connects through it the way
// a deployment behind a transaction pooler does ([condo.ConfigurePool]).
// Tests using it are skipped without pgbouncer, and fail then when
// CONDO_REQUIRE_TOOLS is set.
//
//	func TestMain(m *testing.M) { condotest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		pool := condotest.NewDatabase(t)
//		...
//	}
package condotest
