// Package citus runs a private Citus cluster for tests and benchmarks: a
// coordinator and workers, each a PostgreSQL server started by
// internal/pgcluster on a free loopback port, with Citus preloaded,
// schema-based sharding on and wal_level=logical (for online moves of
// tenant schemas, citus_schema_move).
//
// # Which PostgreSQL
//
// Citus is a server extension built for one PostgreSQL major version, so the
// cluster runs on the PostgreSQL whose library directory holds citus.so,
// whatever CONDO_PG_BIN says for the rest of the suite: the directory named by
// CONDO_CITUS_PG_BIN, else Debian's /usr/lib/postgresql/<version>/bin for the
// newest version with Citus installed. Citus 13.2 (the newest line for
// PostgreSQL 15) is built from ../shared/citus by .ci/run.
//
// # Databases
//
// Citus keeps its metadata (nodes, distributed schemas) per database, and
// does not create databases on the workers, so [Cluster.CreateDatabase]
// creates the database on every node, installs the extension in each and
// registers the workers with the coordinator's copy. Roles made on the
// coordinator's maintenance database reach the workers through Citus's role
// propagation (the extension is installed there too).
package citus
