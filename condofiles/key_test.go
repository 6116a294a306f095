package condofiles_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condofiles"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	ok := []string{"a", "a.txt", "photos/2026/p-1_x.JPG", "0", "a..b", strings.Repeat("a", condofiles.MaxKeyLen)}
	bad := map[string]string{
		"empty":              "",
		"dot-dot":            "..",
		"dot":                ".",
		"traversal":          "a/../../tenant_1/x",
		"absolute":           "/etc/passwd",
		"trailing slash":     "a/",
		"double slash":       "a//b",
		"backslash":          `a\b`,
		"encoded slash":      "a%2Fb",
		"encoded dots":       "%2e%2e/x",
		"NUL":                "a\x00b",
		"hidden":             ".env",
		"dot segment":        "a/./b",
		"space":              "a b",
		"unicode look-alike": "a\u2215b", // DIVISION SLASH
		"fullwidth dot":      "\uff0e\uff0e/x",
		"too long":           strings.Repeat("a", condofiles.MaxKeyLen+1),
		"colon":              "c:x",
		"query":              "a?b",
	}
	for _, k := range ok {
		if err := condofiles.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q): got %v, want nil", k, err)
		}
	}
	for name, k := range bad {
		err := condofiles.ValidateKey(k)
		var ke *condofiles.KeyError
		if !errors.Is(err, condofiles.ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != k {
			t.Errorf("%s: ValidateKey(%q): got %v, want a *KeyError", name, k, err)
		}
	}
}

// FuzzValidateKey: whatever passes is a clean relative path that stays
// below its root.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a%2fb", ".", "a/./b", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if condofiles.ValidateKey(key) != nil {
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || strings.HasPrefix(key, ".") ||
			strings.ContainsAny(key, `\%`+"\x00") || strings.Contains(key, "..") && strings.Contains("/"+key+"/", "/../") {
			t.Fatalf("ValidateKey(%q) passed an unsafe key", key)
		}
	})
}
