package sqlsplit

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only space and comments", " \n-- a; b\n/* c; */ ;; ", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "CREATE TABLE a (id int);\nCREATE INDEX ON a (id);\n", []string{"CREATE TABLE a (id int)", "CREATE INDEX ON a (id)"}},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s; here'; SELECT 2", []string{"SELECT 'it''s; here'", "SELECT 2"}},
		{"backslash is plain in standard strings", `SELECT 'a\'; SELECT 2`, []string{`SELECT 'a\'`, "SELECT 2"}},
		{"E string escapes", `SELECT E'a\';b'; SELECT 2`, []string{`SELECT E'a\';b'`, "SELECT 2"}},
		{"lower e string", `SELECT e'\\'; SELECT 2`, []string{`SELECT e'\\'`, "SELECT 2"}},
		{"identifier ending in e is not E string", `SELECT name'x\'; SELECT 2`, []string{`SELECT name'x\'`, "SELECT 2"}},
		{"quoted identifier", `CREATE TABLE "a;""b" (x int); SELECT 1`, []string{`CREATE TABLE "a;""b" (x int)`, "SELECT 1"}},
		{"line comment", "SELECT 1 -- no; split\n; SELECT 2", []string{"SELECT 1 -- no; split", "SELECT 2"}},
		{"nested block comment", "SELECT /* a /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
		{"dollar quote", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$; SELECT 2",
			[]string{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", "SELECT 2"}},
		{"tagged dollar quote holding $$", "DO $body$ BEGIN PERFORM $$;$$; END $body$; SELECT 2",
			[]string{"DO $body$ BEGIN PERFORM $$;$$; END $body$", "SELECT 2"}},
		{"parameter is not a dollar quote", "SELECT $1; SELECT $2", []string{"SELECT $1", "SELECT $2"}},
		{"dollar inside identifier", "SELECT a$b$c; SELECT 2", []string{"SELECT a$b$c", "SELECT 2"}},
		{"begin atomic body", "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END; SELECT 3",
			[]string{"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END", "SELECT 3"}},
		{"begin then atomic across a comment", "CREATE PROCEDURE p() LANGUAGE sql BEGIN /* c */ ATOMIC INSERT INTO t VALUES (1); END; SELECT 1",
			[]string{"CREATE PROCEDURE p() LANGUAGE sql BEGIN /* c */ ATOMIC INSERT INTO t VALUES (1); END", "SELECT 1"}},
		{"transaction begin is no body", "BEGIN; SELECT 1; COMMIT", []string{"BEGIN", "SELECT 1", "COMMIT"}},
		{"comment kept inside a statement", "-- head\nSELECT 1; -- tail", []string{"-- head\nSELECT 1"}},
		{"multibyte identifiers", "CREATE TABLE café (x int); SELECT 'ü;'", []string{"CREATE TABLE café (x int)", "SELECT 'ü;'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Split(tt.in)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Split(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSplitUnterminated(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"SELECT 'a", `SELECT E'a\'`, `SELECT "a`, "SELECT $$a", "SELECT $x$ a $y$", "SELECT /* a /* b */", "SELECT 1 /"} {
		_, err := Split(in)
		if in == "SELECT 1 /" {
			if err != nil {
				t.Errorf("Split(%q): %v, want no error (a lone slash is an operator)", in, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnterminated) {
			t.Errorf("Split(%q) error = %v, want ErrUnterminated", in, err)
		}
	}
}

// FuzzSplit checks that Split never panics, that its statements are
// trimmed and non-empty, and that joining them again (on lines of their
// own, so a trailing line comment cannot swallow the semicolon) splits
// back into the same statements.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"SELECT 1; SELECT 2", "SELECT 'a;b''c'", `SELECT E'\';'`, `"a;""b"`, "$$;$$; $t$ $$ ; $t$",
		"-- a;\nb", "/* /* ; */ */ c", "CREATE FUNCTION f() BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; x",
		"SELECT $1;", "a$b$c;", "e'x'", "café;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		stmts, err := Split(in)
		if err != nil {
			if !errors.Is(err, ErrUnterminated) {
				t.Fatalf("Split(%q): unexpected error %v", in, err)
			}
			return
		}
		for _, s := range stmts {
			if s == "" || s != strings.Trim(s, space) {
				t.Fatalf("Split(%q): statement %q is empty or untrimmed", in, s)
			}
		}
		again, err := Split(strings.Join(stmts, "\n;\n"))
		if err != nil {
			t.Fatalf("re-split of %q: %v", stmts, err)
		}
		if diff := cmp.Diff(stmts, again); diff != "" {
			t.Fatalf("re-split of Split(%q) differs (-first +again):\n%s", in, diff)
		}
	})
}
