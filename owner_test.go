package condo_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRegistryOwnsItsTables fails if the SQL of any package but this one
// (the registry's) names the registry's tables or sends on its channel:
// every read and write of condo_tenants, condo_domains and
// condo_runtime_roles, condo_provisioners, condo_role_reserve, and every notification, goes through the Registry.
// Tests may set up and inspect the tables directly; comments may name
// them. Only Go string literals are read, so the check cannot be fooled
// by a comment and does not trip over one.
func TestRegistryOwnsItsTables(t *testing.T) {
	t.Parallel()
	owned := regexp.MustCompile(`\bcondo_(tenants|domains|runtime_roles|provisioners|role_reserve)\b|\bcondo_tenants_id_seq\b|\bpg_notify\b|\bcondo_registry\b`)
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		// The root directory is package condo, the owner.
		if filepath.Dir(path) == "." || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				s = lit.Value
			}
			if m := owned.FindString(s); m != "" {
				found = append(found, fset.Position(lit.Pos()).String()+": "+m)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("SQL outside package condo names the registry's tables or channel (use Registry methods):\n%s", strings.Join(found, "\n"))
	}
}
