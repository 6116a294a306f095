package schemacopy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
)

// Errors callers branch on.
var (
	// ErrNotPrepared is returned by [Mover.Copy], [Mover.CatchUp] and
	// [Mover.Finish] when [Mover.Prepare] has not run for the source
	// schema (or the move was rolled back or cleaned up).
	ErrNotPrepared = errors.New("schemacopy: move not prepared")
	// ErrNotCopied is returned by [Mover.CatchUp] and [Mover.Finish] when
	// no [Mover.Copy] has completed since [Mover.Prepare]: a copy killed
	// half-way leaves a partial target, which only a new Copy repairs.
	ErrNotCopied = errors.New("schemacopy: source not copied")
	// ErrFenced is returned by [Mover.Copy] and [Mover.CatchUp] once the
	// source is fenced: only [Mover.Finish] (resume), [Mover.Unfence],
	// [Mover.Rollback] and [Mover.Cleanup] apply then.
	ErrFenced = errors.New("schemacopy: source fenced")
	// ErrBusy is returned by [Mover.Finish] when the write lock was not
	// granted within Config.LockTimeout (a long write transaction on the
	// source): nothing changed, writes resumed; try again later.
	ErrBusy = errors.New("schemacopy: source writes did not pause in time")
	// ErrMismatch is returned (wrapped in a [*MismatchError]) by
	// [Mover.Finish] when the target differs from the source.
	ErrMismatch = errors.New("schemacopy: target differs from source")
)

// NoPrimaryKeyError is returned by [Mover.Prepare] for a table without a
// primary key: changes to it could not be told apart, so it cannot be
// moved while the tenant writes. Give the table a primary key first.
type NoPrimaryKeyError struct{ Table string }

func (e *NoPrimaryKeyError) Error() string {
	return fmt.Sprintf("schemacopy: table %q has no primary key; add one before moving", e.Table)
}

// DefinitionError is returned by [Mover.Prepare] when the target's tables
// or columns differ from the source's (the target was not migrated to the
// same version).
type DefinitionError struct{ Table, Reason string }

func (e *DefinitionError) Error() string {
	return fmt.Sprintf("schemacopy: table %q: %s", e.Table, e.Reason)
}

// MismatchError is what verification found: the tables whose row count
// or checksum differ. It matches [ErrMismatch] with errors.Is.
type MismatchError struct{ Tables []TableCheck }

func (e *MismatchError) Error() string {
	s := "schemacopy: target differs from source:"
	for _, t := range e.Tables {
		s += fmt.Sprintf(" %s (source %d rows, target %d rows)", t.Table, t.SourceRows, t.TargetRows)
	}
	return s
}

// Is makes errors.Is(err, ErrMismatch) hold.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Endpoint is one side of a move: a pool connected as the role that owns
// the schema and its tables (Condo's owner role, never a tenant role),
// and the schema's name.
type Endpoint struct {
	Pool   *pgxpool.Pool
	Schema string
}

// Config tunes a [Mover]. A nil *Config is valid.
type Config struct {
	// Logger receives one line per phase. Defaults to slog.Default().
	Logger *slog.Logger
	// Parallel is how many tables are copied or verified at once.
	// Defaults to 2.
	Parallel int
	// LockTimeout bounds how long [Mover.Finish] waits for the write
	// lock, which waits for the writes in flight; writers queue behind it
	// meanwhile. Defaults to 5 s.
	LockTimeout time.Duration
	// SmallLog is the number of logged changes below which
	// [Mover.Finish] stops catching up and pauses writes. Defaults to
	// 1000.
	SmallLog int
	// Skip names tables of the schema that the move leaves alone on both
	// sides: neither captured, copied, verified nor emptied. Condo skips
	// the tenant's migration history, which has no primary key and which
	// the target's own migrations wrote already (the move holds off
	// migrations of the tenant). Defaults to none.
	Skip []string
}

// SwitchFunc points the registry at the target. tx is the source's
// fencing transaction when [FinishOpts].SwitchInSourceTx is set (the
// registry lives in the source's database: switch and fence commit
// together), nil otherwise (the fence is already committed). It may be
// called again when Finish is resumed, so it must be idempotent.
type SwitchFunc func(ctx context.Context, tx pgx.Tx) error

// Mover moves one schema's rows from a source to a target whose tables
// exist, empty, with the same definitions. Its phases are Prepare, Copy,
// CatchUp (any number of times), Finish and Cleanup; each can be run again
// after a failure or a kill, and Rollback undoes a move at any point
// before Cleanup. State lives in the source's database, so a new Mover
// for the same endpoints resumes where a killed one stopped.
type Mover struct {
	src, dst Endpoint
	log      *slog.Logger
	parallel int
	lockWait time.Duration
	small    int
	skip     []string
	// hook is called at named points; tests use it to kill a phase there.
	hook func(ctx context.Context, point string)
}

// New returns a Mover from src to dst. It returns a [*pgident.NameError]
// for an invalid schema name.
func New(src, dst Endpoint, cfg *Config) (*Mover, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	var errs []error
	if src.Pool == nil || dst.Pool == nil {
		errs = append(errs, errors.New("schemacopy: nil pool"))
	}
	for _, s := range []string{src.Schema, dst.Schema} {
		if err := pgident.Validate("schema", s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(src.Schema) > 63-len(fencedPrefix) {
		errs = append(errs, fmt.Errorf("schemacopy: source schema %q too long to fence", src.Schema))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Mover{
		src: src, dst: dst,
		log:      cmp.Or(cfg.Logger, slog.Default()),
		parallel: max(cmp.Or(cfg.Parallel, 2), 1),
		lockWait: cmp.Or(cfg.LockTimeout, 5*time.Second),
		small:    cmp.Or(cfg.SmallLog, 1000),
		skip:     cfg.Skip,
		hook:     func(context.Context, string) {},
	}, nil
}

// fencedPrefix names a fenced source schema: the source schema's name
// after it, so the name is known without reading the state.
const fencedPrefix = "condo_moved_"

func (m *Mover) fencedName() string { return fencedPrefix + m.src.Schema }

// rollbackTx rolls back even when ctx was cancelled.
func rollbackTx(ctx context.Context, tx pgx.Tx) {
	_ = tx.Rollback(context.WithoutCancel(ctx))
}
