package condo

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// DefaultReserved returns the labels that can never be tenant slugs unless
// configured otherwise: hosts the platform keeps for itself (the public
// site, the admin, mail, APIs) and names that would confuse users. It
// returns a new slice each time, so callers may extend it.
func DefaultReserved() []string {
	return []string{
		"www", "admin", "api", "app", "public", "static", "assets", "cdn", "mail",
		"smtp", "imap", "pop", "ftp", "ns", "ns1", "ns2", "dns", "mx", "status",
		"help", "support", "docs", "blog", "dashboard", "login", "signup", "auth",
		"account", "accounts", "billing", "root", "system", "postgres", "condo",
		"localhost", "test", "dev", "staging", "internal", "webmail", "autoconfig",
		"autodiscover", "wpad",
	}
}

// MaxSlugLen is the longest slug: one DNS label.
const MaxSlugLen = 63

// ValidateSlug checks that slug can name a tenant: a DNS label of 1 to 63
// characters from a-z, 0-9 and hyphen, not starting or ending with a
// hyphen, not an IDNA ("xn--") or other "??--" label, and not in reserved.
// It returns a [*NameError] that says what is wrong.
func ValidateSlug(slug string, reserved []string) error {
	bad := func(format string, args ...any) error {
		return &NameError{Kind: "tenant slug", Name: slug, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case slug == "":
		return bad("must not be empty")
	case len(slug) > MaxSlugLen:
		return bad("longer than %d characters", MaxSlugLen)
	case slug[0] == '-' || slug[len(slug)-1] == '-':
		return bad("must not start or end with a hyphen")
	case len(slug) >= 4 && slug[2:4] == "--":
		// RFC 5891 reserves "??--" labels; "xn--" would be punycode that
		// displays as a look-alike of another tenant's name.
		return bad("must not have hyphens in the third and fourth positions")
	}
	// Range over runes, not bytes, so that the message names the
	// character typed ('ü', not the first byte of its encoding, 'Ã'), at
	// its position in characters.
	pos := 0
	for i, c := range slug {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			if c >= 'A' && c <= 'Z' {
				return bad("must be lower case")
			}
			if _, size := utf8.DecodeRuneInString(slug[i:]); c == utf8.RuneError && size == 1 {
				return bad("invalid UTF-8 at position %d", pos)
			}
			return bad("character %q at position %d is not allowed (use a-z, 0-9 and -)", c, pos)
		}
		pos++
	}
	if slices.Contains(reserved, slug) {
		return bad("is reserved")
	}
	return nil
}

// ValidateName checks a tenant's display name: 1 to 200 characters of
// printable text.
func ValidateName(name string) error {
	bad := func(reason string) error { return &NameError{Kind: "tenant name", Name: name, Reason: reason} }
	if len([]rune(name)) == 0 {
		return bad("must not be empty")
	}
	if len([]rune(name)) > 200 {
		return bad("longer than 200 characters")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return bad("contains control or invalid characters")
		}
	}
	return nil
}
