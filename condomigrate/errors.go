package condomigrate

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrChecksumMismatch is returned (wrapped) when a migration that was
// already applied has been edited since.
var ErrChecksumMismatch = errors.New("applied migration was edited")

// ErrUnknownVersion is returned (wrapped) when the database has applied a
// migration that the files no longer contain (a binary older than the
// database, or a deleted file).
var ErrUnknownVersion = errors.New("database has a migration the files do not contain")

// MigrateError is one tenant's failure.
type MigrateError struct {
	Tenant  string // slug
	Version int64  // the migration that failed, 0 when none was reached
	Err     error
}

func (e *MigrateError) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("migrate tenant %q: %v", e.Tenant, e.Err)
	}
	return fmt.Sprintf("migrate tenant %q to %d: %v", e.Tenant, e.Version, e.Err)
}

func (e *MigrateError) Unwrap() error { return e.Err }

// PartialError is returned by [Migrator.MigrateTenants] when some tenants
// failed. The others were migrated; the result lists both.
type PartialError struct {
	Failed []*MigrateError
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tenant(s) failed to migrate", len(e.Failed))
	for i, f := range e.Failed {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-5)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns the individual failures.
func (e *PartialError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

func isUTF8(b []byte) bool { return utf8.Valid(b) }
