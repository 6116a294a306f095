// Package schemacopy moves one tenant schema's rows from one database to
// another (another server, maybe) while the tenant keeps being served: it
// is the engine behind moves between isolation tiers. It knows nothing of
// Condo's registry: it is given a pool and a schema name for each side,
// and a [SwitchFunc] that points the registry at the target. Only package
// condo uses it.
//
// # Phases
//
// A [Mover] runs five phases. The caller records which one it reached;
// each is idempotent, so after a kill the caller runs the same phase again
// (a new Mover is fine: the state lives in the source's database, in the
// engine's own schema condo_schemacopy) or rolls back.
//
//  1. [Mover.Prepare] puts a capture trigger on every source table: each
//     row inserted, updated or deleted logs its primary key (both keys
//     when an update changes it) to condo_schemacopy.log. The trigger
//     function is SECURITY DEFINER, owned by the owner role, with a fixed
//     search_path; tenant roles have no USAGE on condo_schemacopy, so
//     they can neither read nor forge the log (a tenant's writes only add
//     true entries). Only keys are logged: catching up reads each row's
//     current state, so a key logged twice, or replayed after a kill,
//     costs a row read and nothing else. Tables without a primary key are
//     refused ([NoPrimaryKeyError]): their changes could not be told
//     apart, unless the caller leaves them out ([Config].Skip; Condo
//     skips the tenant's migration history, which the target's own
//     migrations write). The target's tables must match the source's ([DefinitionError]).
//  2. [Mover.Copy] empties the target, opens a REPEATABLE READ transaction
//     on the source that deletes the log entries it can see (they are in
//     its snapshot) and exports its snapshot; workers import it and
//     stream each table with binary COPY from source to target. The
//     target's foreign keys are dropped while it loads and added back
//     after (one validating join instead of a lookup per row: 25 s of a
//     100 MB copy); their definitions are recorded in the move's row
//     first, so a Copy or Rollback after a kill puts them back. Sequences
//     take the source's values. The phase becomes "copied" in the same
//     commit as the log trim; a Copy killed half-way is simply run again.
//  3. [Mover.CatchUp] deletes the log entries one snapshot sees, reads
//     those keys' rows in the same snapshot, and in one target transaction
//     deletes the keys whose rows are gone (children first) and upserts
//     the rest (parents first): the target equals the source as of that
//     snapshot, so foreign keys hold. The source commits the log deletion
//     only after the target committed. Repeat until few changes are left.
//  4. [Mover.Finish] catches up, then in one source transaction: LOCK
//     TABLE … IN EXCLUSIVE MODE on every table (writes queue, reads go
//     on), the last changes and the sequences, verification, the fence,
//     and the switch (see below). [FinishResult] reports the write pause.
//  5. [Mover.Cleanup], after a grace period, drops the fenced copy with
//     its triggers and forgets the move.
//
// [Mover.Rollback] abandons a move before Cleanup: it unfences the source
// ([Mover.Unfence]), drops the triggers and the log, and empties the
// target's tables.
//
// # Verification
//
// Per table, a row count and the sum of a 64-bit hash of each row's text
// form (hashtextextended), computed on both sides at once by other
// connections while the lock holds (no write can commit then, so they see
// what the locked transaction sees). One sequential scan per side and no
// sort: for a 100 MB tenant it costs a fraction of the pause. A
// mismatch returns a [*MismatchError] ([ErrMismatch]), releases the lock
// and switches nothing.
//
// # Fence and switch: the ordering
//
// The fence renames the source schema to condo_moved_<schema> and revokes
// every grant on it. A writer waiting for the lock holds a plan naming the
// table; when it gets the lock PostgreSQL sees the catalog changed and
// looks the name up again in its search_path, where the schema is gone:
// it fails with undefined_table (42P01) instead of writing to the old
// copy (TestMoveUnderLoad checks this for a writer blocked by the pause).
//
// When the registry lives in the source's database
// ([FinishOpts].SwitchInSourceTx), Switch runs in the fencing transaction:
// fence and switch are one commit, and a kill leaves either both or
// neither. Otherwise the fence commits first, durably, and Switch runs
// after it: a kill in between leaves the source fenced and the registry
// not switched, so the tenant is served from nowhere (never from two
// places) until Finish is run again (it verifies again and switches: Switch
// must be idempotent) or Unfence/Rollback gives the source back.
// Switching first would be wrong: a kill before the fence would leave two
// writable copies.
//
// # Limits
//
//   - Pools must allow Parallel+1 connections: Finish verifies on other
//     connections while one holds the lock.
//   - Catch-up moves changed rows as JSON (jsonb_populate_recordset), so
//     the log of one CatchUp must fit in memory; run CatchUp often on a
//     busy tenant. Deletes go before upserts: a unique value moved from
//     one row to another in the same round is fine, a primary key changed
//     under a NO ACTION foreign key is not.
//   - User triggers on the target fire during Copy and CatchUp; tenant
//     schemas with triggers that write elsewhere need them disabled first.
//   - TRUNCATE by the tenant is not captured (tenant roles cannot
//     truncate: Condo grants SELECT, INSERT, UPDATE and DELETE only).
//   - Partitioned tables are copied partition by partition (the leaves
//     are ordinary tables); the parent itself carries no rows.
package schemacopy
