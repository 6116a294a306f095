package condocert_test

import (
	"errors"
	"testing"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// CheckKey tells a deployment whether its key opens what is stored: nothing
// stored, the right key, another key.
func TestStorageCheckKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := condotest.NewDatabase(t)
	key, err := condocert.ParseKey(condocert.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := condocert.ParseKey(condocert.NewKey())
	right, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: key})
	wrong, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: other})
	if n, err := right.CheckKey(ctx); n != 0 || err != nil {
		t.Fatalf("empty storage: %d, %v; want 0, nil", n, err)
	}
	if err := right.Store(ctx, "certificates/acme/example.com/example.com.key", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if n, err := right.CheckKey(ctx); n != 1 || err != nil {
		t.Fatalf("right key: %d, %v; want 1, nil", n, err)
	}
	if n, err := wrong.CheckKey(ctx); n != 1 || !errors.Is(err, condocert.ErrWrongKey) {
		t.Fatalf("another key: %d, %v; want 1, ErrWrongKey", n, err)
	}
}
