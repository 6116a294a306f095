package condostack

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condotest"
)

// TestFiles: Config.Files turns the file store on, on a real S3 server,
// and the stack's registry purges a tenant's files with it.
func TestFiles(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	s3 := condotest.NewS3(t)
	ctx := t.Context()
	st, err := Open(ctx, &Config{DatabaseURL: db.URL, PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t),
		Files: condofiles.NewS3(condofiles.NewS3Client(condofiles.S3ClientOpts{Endpoint: s3.Endpoint,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, PathStyle: true}), s3.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acme, err := st.Registry.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Files.Put(condo.WithTenant(ctx, acme), "a.txt", strings.NewReader("hello"), nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.Files.TenantUsage(ctx, acme); u != (condofiles.Usage{Objects: 1, Bytes: 5}) {
		t.Errorf("usage: got %+v", u)
	}
	if err := st.Registry.Delete(ctx, "acme", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.Files.TenantUsage(ctx, acme); u != (condofiles.Usage{}) {
		t.Errorf("usage after the purge: got %+v, want none", u)
	}
}
