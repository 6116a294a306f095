package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocli"
)

// TestFindStateDir: a command run in a subdirectory finds the cluster dev
// made at the repository's root; without one anywhere it refuses, saying
// how to get a database, and makes nothing.
func TestFindStateDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	sub := filepath.Join(root, "examples", "hotels")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := findStateDir(sub, ".condo"); !errors.Is(err, condocli.ErrNoDatabase) || !strings.Contains(err.Error(), "hotels dev") {
		t.Fatalf("no cluster anywhere: got %v, want ErrNoDatabase with a hint", err)
	}
	if err := os.MkdirAll(clusterDir(filepath.Join(root, ".condo")), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := findStateDir(sub, ".condo")
	if err != nil || got != filepath.Join(root, ".condo") {
		t.Fatalf("from a subdirectory: got %q, %v; want the root's .condo", got, err)
	}
	if got, err := findStateDir(root, ".condo"); err != nil || got != filepath.Join(root, ".condo") {
		t.Fatalf("from the root: got %q, %v", got, err)
	}
}

// TestNoClusterRefuses runs a command with neither DATABASE_URL nor a
// development cluster: it fails with the hint and runs no initdb.
func TestNoClusterRefuses(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), ".condo")
	var out bytes.Buffer
	cli := newCLI(&options{stateDir: state, getenv: func(string) string { return "" }, stdout: &out, stderr: &out})
	err := cli.Execute(t.Context(), []string{"tenants", "list"})
	if !errors.Is(err, condocli.ErrNoDatabase) || !strings.Contains(err.Error(), "hotels dev") {
		t.Fatalf("tenants list without a database: got %v, want ErrNoDatabase with a hint", err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the state directory was made (%v): a command must not initdb a new cluster", err)
	}
}

// TestExitCodes runs the binary: an unknown command or subcommand and a
// missing argument fail with a non-zero exit and say what is wrong.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), ".condo")
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"unknown command", []string{"nope"}, 1, `unknown command "nope" for "hotels"`},
		{"unknown subcommand", []string{"tenants", "nope"}, 1, `unknown command "nope" for "hotels tenants"`},
		{"suggestion", []string{"tenants", "lst"}, 1, `did you mean "list"?`},
		{"missing argument", []string{"tenants", "show"}, 1, "missing SLUG"},
		{"missing second argument", []string{"tenants", "rename", "acme"}, 1, "missing NEW"},
		{"app command", []string{"admin", "create-user"}, 1, "missing EMAIL"},
		{"help", []string{"tenants"}, 0, "Create, list, change and delete tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], append(tt.args, "--database-url", "")...)
			cmd.Dir = filepath.Dir(state)
			cmd.Env = append(os.Environ(), runMainEnv+"=1", "DATABASE_URL=")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(out.String(), tt.says) {
				t.Errorf("hotels %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(tt.args, " "), code, out.String(), tt.code, tt.says)
			}
		})
	}
}
