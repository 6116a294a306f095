// Package condojobs runs background jobs that follow the tenant, on River
// (github.com/riverqueue/river): PostgreSQL-native, with transactional
// enqueue, so a job exists exactly when the transaction that made it
// commits.
//
// # Tenants
//
// A job enqueued inside a tenant transaction ([condo.Registry.InTx]) is
// stamped by the database with the role that inserted it, the tenant's
// role; the application cannot forge it (see [Migrate]). A worker added
// with [AddTenant] runs the job in that tenant's transaction and role,
// with the tenant in its context, so it sees that tenant's tables and no
// other's, exactly as a request does. A job whose tenant was suspended,
// deleted or purged since is not run: it is cancelled with
// [ErrJobDropped] and a log line ("job dropped") says why.
//
// [PeriodicTenantJob] fans a periodic job out over every active tenant,
// one job each, as many at a time as the queue's MaxWorkers allows.
//
// # Tables and roles
//
// River's tables live in the shared schema ([Schema]); [Migrate]
// installs them with River's own migrator (the migrate command calls it
// when jobs are configured). River itself runs as the owner role. Tenant
// roles and the runtime role's shared role may insert and read only the
// jobs stamped with their own name (row-level security), so no
// RuntimeGrants are needed with split roles.
//
// # Poolers
//
// Behind a transaction pooler River cannot LISTEN: give it the direct
// pool, or set [Config].PollOnly on the pooled one. Enqueueing works in
// any transaction, pooled or not.
package condojobs
