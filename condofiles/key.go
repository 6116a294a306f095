package condofiles

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/condo-dev/condo"
)

// MaxKeyLen is the longest key, in bytes. S3 allows 1024 for the whole
// name; the tenant's prefix takes the rest.
const MaxKeyLen = 900

// ErrInvalidKey is wrapped by every [*KeyError].
var ErrInvalidKey = errors.New("invalid file key")

// KeyError reports a key that [ValidateKey] refuses, and why.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("invalid file key %q: %s", e.Key, e.Reason)
}

// Unwrap returns [ErrInvalidKey].
func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// ValidateKey returns a [*KeyError] unless key is made of "/"-separated
// segments of ASCII letters, digits, '.', '_' and '-', each starting with a
// letter or digit, at most [MaxKeyLen] bytes long. An allow-list rather than
// a list of forbidden tricks: "..", "/abs", "a//b", `a\b`, "%2e%2e",
// "a%2Fb", NUL and Unicode look-alikes all fall outside it.
func ValidateKey(key string) error {
	return validate(key)
}

// validatePrefix is ValidateKey for a List prefix: it may be empty or end
// with "/".
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validate(strings.TrimSuffix(prefix, "/"))
}

func validate(key string) error {
	bad := func(reason string) error { return &KeyError{Key: key, Reason: reason} }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad("longer than " + strconv.Itoa(MaxKeyLen) + " bytes")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return bad("empty segment (leading, trailing or double '/')")
		}
		if !isAlnum(seg[0]) {
			return bad("a segment must start with a letter or digit")
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return bad(fmt.Sprintf("character %q not allowed", rune(c)))
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// tenantPrefix is the backend prefix of t's objects, after its id (the
// schema's name): a rename moves nothing and a new tenant never inherits a
// purged tenant's files, since ids are not reused.
func tenantPrefix(t *condo.Tenant) string {
	return "tenant_" + strconv.FormatInt(t.ID, 10) + "/"
}
