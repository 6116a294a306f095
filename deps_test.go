package condo_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoEdgeDependencies keeps the dependency one way: the HTTP edge
// (package condohttp) imports tenancy, never the reverse, so a program
// that only uses the registry, tenant transactions or the migrator does
// not link an HTTP server or Prometheus. It reads the package's import
// graph from the go command that runs the tests.
func TestNoEdgeDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/condo-dev/condo").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		switch {
		case d == "net/http", strings.HasPrefix(d, "net/http/"),
			strings.HasPrefix(d, "github.com/prometheus/"),
			d == "github.com/condo-dev/condo/condohttp",
			d == "github.com/condo-dev/condo/condocli", d == "github.com/condo-dev/condo/condocert":
			t.Errorf("package condo depends on %s", d)
		}
	}
}
