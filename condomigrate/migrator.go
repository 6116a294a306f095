package condomigrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgexec"
	"github.com/condo-dev/condo/internal/pgident"
)

// lockKey is the advisory lock that serialises migration runs: a fixed
// constant that every Condo binary shares, whatever its version.
const lockKey int64 = 0x2c0d0_6d16_7a7e

// Config configures a [Migrator]. A nil *Config is valid.
type Config struct {
	// Shared holds the application's shared migrations. Nil means none.
	Shared fs.FS
	// Tenant holds the application's tenant migrations. Nil means none.
	Tenant fs.FS
	// Parallel is how many tenants are migrated at once. Defaults to the
	// number of CPUs; capped at the pool size minus one (one connection
	// holds the run's lock).
	Parallel int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Migrator applies the three migration lines. It is safe for concurrent
// use; runs are serialised by an advisory lock in the database.
type Migrator struct {
	pool     *pgxpool.Pool
	core     *Line
	shared   *Line
	tenant   *Line
	parallel int
	logger   *slog.Logger

	catalogOK atomic.Bool // tenant checksums verified against the database once
}

// New loads the migration files and returns a Migrator. It returns a
// [*FileError] (joined, wrapped) for each bad file.
func New(pool *pgxpool.Pool, cfg *Config) (*Migrator, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.Parallel < 0 {
		return nil, fmt.Errorf("parallel must be positive, got %d", cfg.Parallel)
	}
	shared, err := Load("shared", cfg.Shared)
	if err != nil {
		return nil, err
	}
	tenant, err := Load("tenant", cfg.Tenant)
	if err != nil {
		return nil, err
	}
	return &Migrator{
		pool:     pool,
		core:     coreLine(),
		shared:   shared,
		tenant:   tenant,
		parallel: cmp.Or(cfg.Parallel, runtime.NumCPU()),
		logger:   cmp.Or(cfg.Logger, slog.Default()),
	}, nil
}

// TenantLine returns the tenant migrations.
func (m *Migrator) TenantLine() *Line { return m.tenant }

// Applied names one migration that a run applied (or, in a dry run, would
// apply).
type Applied struct {
	Line    string
	Version int64
	Name    string
}

// SharedOpts tunes [Migrator.MigrateShared]. A nil *SharedOpts is valid.
type SharedOpts struct {
	// DryRun reports what would be applied and changes nothing.
	DryRun bool
}

// SharedResult is what [Migrator.MigrateShared] did.
type SharedResult struct {
	Applied []Applied
}

const bootstrapSQL = `CREATE TABLE IF NOT EXISTS public.condo_migrations (
    line       text        NOT NULL,
    version    bigint      NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (line, version)
)`

// MigrateShared applies pending migrations of Condo's own line and then of
// the application's shared line, all in one transaction, with search_path
// set to public. It returns an error wrapping [ErrChecksumMismatch] or
// [ErrUnknownVersion] when the files and the database disagree, and then
// applies nothing.
func (m *Migrator) MigrateShared(ctx context.Context, opts *SharedOpts) (*SharedResult, error) {
	if opts == nil {
		opts = &SharedOpts{}
	}
	res := &SharedResult{}
	err := m.withLock(ctx, func(conn *pgxpool.Conn) error {
		if _, err := conn.Exec(ctx, bootstrapSQL); err != nil {
			return fmt.Errorf("create migrations table: %w", err)
		}
		if v, err := citusVersion(ctx, conn.Conn()); err != nil {
			return err
		} else if v != "" && !opts.DryRun {
			if err := prepareCitus(ctx, conn.Conn()); err != nil {
				return err
			}
		}
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO public"); err != nil {
				return err
			}
			for _, line := range []*Line{m.core, m.shared} {
				if len(line.Migrations) == 0 {
					continue
				}
				applied, err := loadApplied(ctx, tx, line.Name)
				if err != nil {
					return err
				}
				if err := verify(line, applied); err != nil {
					return err
				}
				for _, mig := range line.Migrations {
					if _, ok := applied[mig.Version]; ok {
						continue
					}
					res.Applied = append(res.Applied, Applied{line.Name, mig.Version, mig.Name})
					if opts.DryRun {
						continue
					}
					if err := pgexec.Each(ctx, tx.Conn().PgConn(), mig.Statements); err != nil {
						return fmt.Errorf("apply %s migration %d_%s: %w", line.Name, mig.Version, mig.Name, err)
					}
					if _, err := tx.Exec(ctx, "INSERT INTO public.condo_migrations (line, version, name, checksum) VALUES ($1, $2, $3, $4)",
						line.Name, mig.Version, mig.Name, mig.Checksum); err != nil {
						return fmt.Errorf("record %s migration %d: %w", line.Name, mig.Version, err)
					}
					m.logger.LogAttrs(ctx, slog.LevelInfo, "applied migration",
						slog.String("line", line.Name), slog.Int64("version", mig.Version), slog.String("name", mig.Name))
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// withLock runs fn on a dedicated connection holding the migration lock.
func (m *Migrator) withLock(ctx context.Context, fn func(*pgxpool.Conn) error) error {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx was cancelled; if that fails the connection
		// is closed so the session lock cannot outlive the run.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn(conn)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func loadApplied(ctx context.Context, q querier, line string) (map[int64]string, error) {
	rows, err := q.Query(ctx, "SELECT version, checksum FROM public.condo_migrations WHERE line = $1", line)
	if err != nil {
		return nil, fmt.Errorf("read applied %s migrations: %w", line, err)
	}
	applied := map[int64]string{}
	var v int64
	var sum string
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil })
	if err != nil {
		return nil, fmt.Errorf("read applied %s migrations: %w", line, err)
	}
	return applied, nil
}

// verify compares the files with what the database recorded.
func verify(line *Line, applied map[int64]string) error {
	var errs []error
	for v, sum := range applied {
		mig, ok := line.Get(v)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s migration %d: %w", line.Name, v, ErrUnknownVersion))
		case mig.Checksum != sum:
			errs = append(errs, fmt.Errorf("%s migration %d_%s: %w (checksum %.12s…, applied %.12s…)",
				line.Name, v, mig.Name, ErrChecksumMismatch, mig.Checksum, sum))
		}
	}
	return errors.Join(errs...)
}

// checkTenantCatalog verifies the tenant files against the checksums
// recorded when each version was first applied to a tenant.
func (m *Migrator) checkTenantCatalog(ctx context.Context, q querier) error {
	applied, err := loadApplied(ctx, q, m.tenant.Name)
	if err != nil {
		return err
	}
	return verify(m.tenant, applied)
}

// HistoryTable names the migration history: public.condo_migrations, the
// shared catalog of every line, and a slim table of that name in each tenant
// schema. condomigrate owns both; others name the table through this
// constant (an export leaves the tenant's history out, for instance).
const HistoryTable = "condo_migrations"

// TenantHistoryDDL creates a tenant schema's migration history (with
// search_path set to the schema), once, when the schema is created. It is deliberately slim: fixed-width
// columns and no index mean one relation file, where names and checksums
// would add a TOAST table and its index to every tenant (a third of the
// cost of creating a tenant). Names and checksums live once, in the shared
// catalog.
const TenantHistoryDDL = `CREATE TABLE ` + HistoryTable + ` (
    version    bigint      NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// TenantHistoryReplicaIdentityDDL follows [TenantHistoryDDL]: the history
// has no primary key (it would add an index to every tenant), and Citus
// moves a tenant schema online (citus_schema_move, logical replication) only
// when every table has a replica identity. FULL costs nothing until a row is
// updated or deleted, which history rows never are. Core migration 30 gives
// it to the tenants made before it.
const TenantHistoryReplicaIdentityDDL = `ALTER TABLE condo_migrations REPLICA IDENTITY FULL`

// ApplyTenantTx brings one tenant schema to the latest tenant migration
// inside the caller's transaction: it sets search_path to the schema alone,
// applies the migrations above from, and records them in the schema and in
// the shared catalog. It is the step that tenant creation and fleet runs
// share. The caller records the tenant's new version in the registry, in
// the same transaction (the registry owns that row: see [TenantStore]).
// The schema's history table ([TenantHistoryDDL]) must exist:
// condo.Registry.Create makes it with the schema. It returns the new
// version, or a [*MigrateError] naming the migration that failed.
func (m *Migrator) ApplyTenantTx(ctx context.Context, tx pgx.Tx, slug, schema string, from int64) (int64, error) {
	return m.ApplyTenantTxUpto(ctx, tx, slug, schema, from, m.tenant.Latest())
}

// ApplyTenantTxUpto is [Migrator.ApplyTenantTx] stopping at version upto
// (used to import an export made at that version).
func (m *Migrator) ApplyTenantTxUpto(ctx context.Context, tx pgx.Tx, slug, schema string, from, upto int64) (int64, error) {
	return m.applyTenant(ctx, tx, slug, schema, from, upto, true)
}

// applyTenant applies the tenant migrations above from, up to upto, to
// schema in tx; catalog also checks and records them in the shared
// catalog, which is in tx's database (the schema tier).
func (m *Migrator) applyTenant(ctx context.Context, tx pgx.Tx, slug, schema string, from, upto int64, catalog bool) (int64, error) {
	if err := pgident.Validate("schema", schema); err != nil {
		return from, &MigrateError{Tenant: slug, Err: err}
	}
	if catalog && !m.catalogOK.Load() {
		if err := m.checkTenantCatalog(ctx, tx); err != nil {
			return from, &MigrateError{Tenant: slug, Err: err}
		}
		m.catalogOK.Store(true)
	}
	pending := m.tenant.After(from)
	for len(pending) > 0 && pending[len(pending)-1].Version > upto {
		pending = pending[:len(pending)-1]
	}
	if len(pending) == 0 {
		return from, nil
	}
	// One round trip, one statement per query string: the search path,
	// every statement of every pending migration, then the records. The
	// search_path change cannot fail on its own, so an error belongs to a
	// migration or to the records.
	qs := pgident.Quote(schema)
	stmts := []string{"SET LOCAL search_path TO " + qs}
	owner := []int64{0} // the version each statement belongs to; 0: no migration
	for _, mig := range pending {
		stmts = append(stmts, mig.Statements...)
		for range mig.Statements {
			owner = append(owner, mig.Version)
		}
	}
	// Names are [a-z0-9_] and checksums hex (checked by Load), so literals
	// need no escaping beyond what quoteLiteral does anyway.
	latest := pending[len(pending)-1].Version
	for _, mig := range pending {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.condo_migrations (version) VALUES (%d)", qs, mig.Version))
		if catalog {
			stmts = append(stmts, m.catalogInsert(mig))
		}
	}
	if err := pgexec.Each(ctx, tx.Conn().PgConn(), stmts); err != nil {
		var pe *pgexec.Error
		if errors.As(err, &pe) && pe.Index < len(owner) && owner[pe.Index] != 0 {
			return from, &MigrateError{Tenant: slug, Version: owner[pe.Index], Err: explainCitus(pe.Err)}
		}
		return from, &MigrateError{Tenant: slug, Version: latest, Err: fmt.Errorf("record versions: %w", err)}
	}
	return latest, nil
}

// catalogInsert records mig in the shared catalog, unless it is there.
func (m *Migrator) catalogInsert(mig Migration) string {
	return fmt.Sprintf("INSERT INTO public.condo_migrations (line, version, name, checksum) VALUES (%s, %d, %s, %s) ON CONFLICT DO NOTHING",
		quoteLiteral(m.tenant.Name), mig.Version, quoteLiteral(mig.Name), quoteLiteral(mig.Checksum))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TenantOpts tunes [Migrator.MigrateTenants]. A nil *TenantOpts is valid.
type TenantOpts struct {
	// Slug limits the run to one tenant.
	Slug string
	// Parallel overrides Config.Parallel for this run.
	Parallel int
	// StopOnError stops handing out tenants after the first failure.
	StopOnError bool
	// DryRun lists the tenants that are behind and changes nothing.
	DryRun bool
	// Progress, when set, is called after each tenant (from several
	// goroutines, one call at a time).
	Progress func(Progress)
}

// Progress reports how far a fleet run is.
type Progress struct {
	Done, Failed, Total int
	Tenant              string
}

// Pending is a tenant that is behind.
type Pending struct {
	Slug    string
	Version int64 // current version
}

// TenantResult is what [Migrator.MigrateTenants] did.
type TenantResult struct {
	Latest   int64
	UpToDate int       // tenants already at Latest
	Pending  []Pending // tenants that were behind at the start
	Migrated []string  // slugs migrated by this run
	Failed   []*MigrateError
}

// MigrateTenants brings every tenant of store that is not deleted (or only
// opts.Slug) to the latest tenant migration; store is the tenant registry
// (a *condo.Registry), which finds the tenants behind and records each
// one's new version. Each tenant is migrated in its own transaction. When
// some tenants fail the others are still migrated and the error is a
// [*PartialError]; the result is returned either way. Returns an error
// wrapping [ErrChecksumMismatch] or [ErrUnknownVersion] before touching any
// tenant when the files disagree with the database, and store's error
// (condo.ErrTenantNotFound) when opts.Slug names no tenant.
func (m *Migrator) MigrateTenants(ctx context.Context, store TenantStore, opts *TenantOpts) (*TenantResult, error) {
	if opts == nil {
		opts = &TenantOpts{}
	}
	res := &TenantResult{Latest: m.tenant.Latest()}
	err := m.withLock(ctx, func(conn *pgxpool.Conn) error {
		if err := m.checkTenantCatalog(ctx, conn); err != nil {
			return err
		}
		m.catalogOK.Store(true)
		jobs, upToDate, err := store.TenantsBehind(ctx, res.Latest, opts.Slug)
		if err != nil {
			return fmt.Errorf("list tenants behind: %w", err)
		}
		res.UpToDate = upToDate
		for _, j := range jobs {
			res.Pending = append(res.Pending, Pending{Slug: j.Slug, Version: j.Version})
		}
		if opts.DryRun || len(jobs) == 0 {
			return nil
		}

		// On Citus every tenant commits synchronously (see migrateOne).
		citus, err := citusVersion(ctx, conn.Conn())
		if err != nil {
			return err
		}
		begin := "BEGIN; SET LOCAL synchronous_commit TO off"
		if citus != "" {
			begin = "BEGIN"
		}
		parallel := min(cmp.Or(opts.Parallel, m.parallel), max(int(m.pool.Config().MaxConns)-1, 1), len(jobs))
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		ch := make(chan TenantVersion)
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			done int
		)
		for range parallel {
			wg.Go(func() {
				for j := range ch {
					err := m.migrateOne(ctx, store, begin, j.ID, j.Slug)
					mu.Lock()
					done++
					var me *MigrateError
					if err != nil {
						if !errors.As(err, &me) {
							me = &MigrateError{Tenant: j.Slug, Err: err}
						}
						res.Failed = append(res.Failed, me)
						if opts.StopOnError {
							stop()
						}
						m.logger.LogAttrs(ctx, slog.LevelWarn, "tenant migration failed",
							slog.String("tenant", j.Slug), slog.Int64("version", me.Version), slog.Any("error", me.Err))
					} else {
						res.Migrated = append(res.Migrated, j.Slug)
					}
					if opts.Progress != nil {
						opts.Progress(Progress{Done: done, Failed: len(res.Failed), Total: len(jobs), Tenant: j.Slug})
					}
					mu.Unlock()
				}
			})
		}
	feed:
		for _, j := range jobs {
			select {
			case ch <- j:
			case <-runCtx.Done():
				break feed
			}
		}
		close(ch)
		wg.Wait()
		if len(res.Migrated) > 0 {
			// A synchronous commit that writes a commit record flushes the
			// WAL up to it, and so every asynchronous commit before it.
			if _, err := conn.Exec(ctx, "BEGIN; SELECT txid_current(); COMMIT"); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return res, err
	}
	if len(res.Failed) > 0 {
		return res, &PartialError{Failed: res.Failed}
	}
	return res, nil
}

// migrateOne migrates one tenant in its own transaction. The registry row
// is locked first (and the new version recorded, in the same round trip),
// so a concurrent creation, rename or purge waits, and a version that
// moved on meanwhile is noticed.
//
// The transaction commits with synchronous_commit off: a crash right after
// it may lose the migration of this tenant, whole (DDL, history and
// registry version go together), and the next run redoes it. That trade
// takes a WAL flush off every tenant. MigrateTenants flushes once at the
// end, so a finished run is durable. Not on Citus: an online move of a
// tenant (citus_schema_move) switches over once the new node has replayed
// the old one's WAL up to pg_current_wal_lsn(), the WAL written so far, and
// a commit acknowledged before its WAL was written is then lost
// (TestCitusMove lost 24 of 1,346 acknowledged writes that way); begin is
// plain BEGIN there.
func (m *Migrator) migrateOne(ctx context.Context, store TenantStore, begin string, id int64, slug string) error {
	opts := pgx.TxOptions{BeginQuery: begin}
	return pgx.BeginTxFunc(ctx, m.pool, opts, func(tx pgx.Tx) error {
		latest := m.tenant.Latest()
		t, ok, err := store.LockTenantVersionTx(ctx, tx, id, latest)
		if err != nil {
			return &MigrateError{Tenant: slug, Err: err}
		}
		if !ok {
			return nil // purged, deleted or migrated since the run started
		}
		if t.Database != "" {
			return m.migrateDatabase(ctx, store, tx, t, latest)
		}
		v, err := m.ApplyTenantTx(ctx, tx, t.Slug, t.Schema, t.Version)
		if err == nil && v != latest {
			// The store recorded latest: it must be what was applied.
			err = &MigrateError{Tenant: t.Slug, Version: v, Err: fmt.Errorf("migrated to %d, recorded %d", v, latest)}
		}
		return err
	})
}

// String is for logs: "acme@3" (slug and current version).
func (p Pending) String() string { return p.Slug + "@" + strconv.FormatInt(p.Version, 10) }
