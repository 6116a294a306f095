package condo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgident"
)

func FuzzValidateSlug(f *testing.F) {
	for _, s := range []string{"acme", "a-b", "-a", "a'b", "\u0430cme", "xn--abc", strings.Repeat("a", 64), "admin", "pg_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := condo.ValidateSlug(s, condo.DefaultReserved())
		if err != nil {
			var ne *condo.NameError
			if !errors.As(err, &ne) || ne.Reason == "" {
				t.Fatalf("error %v is not a *NameError with a reason", err)
			}
			return
		}
		// Whatever is accepted is a DNS label that needs no quoting anywhere.
		if len(s) == 0 || len(s) > 63 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
		if pgident.Quote(s) != `"`+s+`"` {
			t.Fatalf("accepted %q needs escaping", s)
		}
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in string
		ok bool
	}{
		"plain":   {"Acme Inc.", true},
		"unicode": {"Hôtel Ünïcode ☃", true},
		"empty":   {"", false},
		"long":    {strings.Repeat("x", 201), false},
		"newline": {"a\nb", false},
		"nul":     {"a\x00b", false},
	} {
		if err := condo.ValidateName(tc.in); (err == nil) != tc.ok {
			t.Errorf("%s: ValidateName(%q) = %v", name, tc.in, err)
		}
	}
}

// TestValidateSlugReason checks that a rejected character is reported as
// the character typed ('ü'), not as a byte of its encoding ('Ã').
func TestValidateSlugReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"umlaut", "m\u00fcller", `character 'ü' at position 1 is not allowed`},
		{"after a multibyte character", "\u00fc\u00e9", `character 'ü' at position 0 is not allowed`},
		{"underscore", "a_b", `character '_' at position 1 is not allowed`},
		{"upper case", "Acme", "must be lower case"},
		{"invalid utf-8", "ab\xff", "invalid UTF-8 at position 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ne *condo.NameError
			if err := condo.ValidateSlug(tt.in, nil); !errors.As(err, &ne) || !strings.HasPrefix(ne.Reason, tt.want) {
				t.Fatalf("ValidateSlug(%q) = %v, want a reason starting %q", tt.in, err, tt.want)
			}
		})
	}
}
