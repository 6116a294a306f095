// Package pgident is the only place where PostgreSQL identifiers that Condo
// builds (schema and role names) are validated and quoted. Every identifier
// that reaches SQL goes through [Quote] or [QuoteQualified], after [Validate].
package pgident

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// MaxLen is PostgreSQL's identifier limit (NAMEDATALEN-1): longer names are
// silently truncated by the server, which could make two names collide.
const MaxLen = 63

// NameError reports a name that is not acceptable, and why.
type NameError struct {
	Kind   string // "tenant slug", "schema", "role", "host", ...
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Name, e.Reason)
}

// Validate checks that name is an identifier Condo may create: 1 to 63
// bytes of lower-case ASCII letters, digits and underscores, starting with a
// letter or underscore, and not in the pg_ namespace PostgreSQL reserves.
// Restricting to this set means a name never needs quoting to keep its
// meaning; quoting is still applied everywhere as a second wall.
func Validate(kind, name string) error {
	bad := func(reason string) error { return &NameError{Kind: kind, Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxLen))
	case len(name) >= 3 && name[:3] == "pg_":
		return bad(`the "pg_" prefix is reserved by PostgreSQL`)
	case name[0] >= '0' && name[0] <= '9':
		return bad("must not start with a digit")
	}
	// Range over runes, not bytes: the message names the character the
	// user typed ('ü'), not the first byte of its UTF-8 encoding ('Ã').
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			if _, size := utf8.DecodeRuneInString(name[i:]); c == utf8.RuneError && size == 1 {
				return bad(fmt.Sprintf("invalid UTF-8 at byte %d", i))
			}
			return bad(fmt.Sprintf("character %q at byte %d is not allowed (use a-z, 0-9, _)", c, i))
		}
	}
	return nil
}

// Quote returns name quoted as an SQL identifier.
func Quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// QuoteQualified returns schema.name with both parts quoted.
func QuoteQualified(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }

// ValidateGiven checks a name Condo does not choose but is given, such as
// the operator's login role: 1 to 63 bytes of valid UTF-8 without NUL.
// Such a name always reaches SQL through [Quote].
func ValidateGiven(kind, name string) error {
	bad := func(reason string) error { return &NameError{Kind: kind, Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxLen))
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		return bad("must be valid UTF-8 without NUL")
	}
	return nil
}
