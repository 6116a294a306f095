package condofiles_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// The registry keeps a tenant's files in step with its tables: an export
// carries them, an import restores them under the new tenant, a purge
// removes them and leaves other tenants' alone.
func TestRegistryExportImportPurge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := condotest.NewDatabase(t)
	m, err := condomigrate.New(pool, &condomigrate.Config{Logger: condotest.Logger(t),
		Tenant: fstest.MapFS{"0001_notes.sql": {Data: []byte("CREATE TABLE note (body text NOT NULL)")}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := condofiles.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := condofiles.New(b, &condofiles.Config{Logger: condotest.Logger(t)})
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Files: files, Logger: condotest.Logger(t)})
	acme, err := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	globex, err := reg.Create(ctx, condo.CreateParams{Slug: "globex", Name: "Globex"})
	if err != nil {
		t.Fatal(err)
	}
	err = reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO note VALUES ('hello')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, files, acme, "photos/p.png", string(pngBytes))
	put(t, files, globex, "photos/p.png", "globex")

	var export bytes.Buffer
	if err := reg.Export(ctx, "acme", &export); err != nil {
		t.Fatal(err)
	}
	if err := reg.Delete(ctx, "acme", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if u, _ := files.TenantUsage(ctx, acme); u != (condofiles.Usage{}) {
		t.Errorf("acme's files after its purge: %+v", u)
	}
	if got, err := read(t, files, in(globex), "photos/p.png"); err != nil || got != "globex" {
		t.Errorf("globex's file after acme's purge: got %q, %v", got, err)
	}

	back, err := reg.Import(ctx, bytes.NewReader(export.Bytes()), condo.ImportParams{Slug: "acme2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(t, files, in(back), "photos/p.png"); err != nil || got != string(pngBytes) {
		t.Errorf("imported photo: got %d bytes, %v", len(got), err)
	}
	var note string
	err = reg.InTx(ctx, back, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT body FROM note").Scan(&note)
	})
	if err != nil || note != "hello" {
		t.Errorf("imported note: got %q, %v", note, err)
	}

	// A registry without a file store refuses an export with files
	// rather than drop them.
	bare := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	_, err = bare.Import(ctx, bytes.NewReader(export.Bytes()), condo.ImportParams{Slug: "acme3"})
	if !errors.Is(err, condo.ErrIncompatibleExport) || !strings.Contains(err.Error(), "files") {
		t.Errorf("import with files into a registry without: got %v, want ErrIncompatibleExport", err)
	}

	// An import refused (a slug taken) leaves no files behind.
	if _, err := reg.Import(ctx, bytes.NewReader(export.Bytes()), condo.ImportParams{Slug: "globex"}); !errors.Is(err, condo.ErrTenantExists) {
		t.Fatalf("import as a taken slug: got %v, want ErrTenantExists", err)
	}
	var total int
	if err := b.List(ctx, "", func(condofiles.Object) error { total++; return nil }); err != nil {
		t.Fatal(err)
	}
	if total != 2 { // globex's and acme2's
		t.Errorf("files after a failed import: got %d, want 2", total)
	}
}
