package pgident

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "tenant_1", true},
		{"underscore start", "_x", true},
		{"max length", strings.Repeat("a", 63), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", 64), false},
		{"pg prefix", "pg_catalog", false},
		{"digit start", "1abc", false},
		{"upper case", "Tenant", false},
		{"quote", `a"b`, false},
		{"semicolon", "a;drop", false},
		{"space", "a b", false},
		{"hyphen", "a-b", false},
		{"cyrillic a", "\u0430bc", false},
		{"nul", "a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate("schema", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			var ne *NameError
			if err != nil && !errors.As(err, &ne) {
				t.Fatalf("error %T is not *NameError", err)
			}
		})
	}
}

// TestValidateReason checks that a rejected character is reported as the
// character typed, not as the first byte of its UTF-8 encoding.
func TestValidateReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"umlaut", "m\u00fcller", `character 'ü' at byte 1 is not allowed`},
		{"cyrillic", "\u0430bc", `character 'а' at byte 0 is not allowed`},
		{"ascii", "a-b", `character '-' at byte 1 is not allowed`},
		{"invalid utf-8", "ab\xff", `invalid UTF-8 at byte 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ne *NameError
			if err := Validate("schema", tt.in); !errors.As(err, &ne) || !strings.HasPrefix(ne.Reason, tt.want) {
				t.Fatalf("Validate(%q) = %v, want a reason starting %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	if got, want := Quote(`a"b`), `"a""b"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got, want := QuoteQualified("s", "t"), `"s"."t"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"tenant_1", "pg_x", `a"b`, "", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Validate("schema", s) != nil {
			return
		}
		// Anything accepted must be unchanged by quoting apart from the
		// surrounding quotes: no character needed escaping.
		if Quote(s) != `"`+s+`"` {
			t.Fatalf("accepted %q needs escaping", s)
		}
		if len(s) > MaxLen || strings.HasPrefix(s, "pg_") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestValidateGiven(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"operator's role", "MyApp-Prod", true},
		{"quote inside", `a"b`, true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"NUL", "a\x00b", false},
		{"invalid UTF-8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateGiven("role", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateGiven(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
