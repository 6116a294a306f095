package condocert_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// storageDigest is every row of the certificate storage, for checking
// that nothing changed.
func storageDigest(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var d string
	err := pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(key || ':' || encrypted || ':' || encode(sha256(value), 'hex'), ',' ORDER BY key), '')
FROM public.condo_cert_storage`).Scan(&d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRotateKey: after a rotation the old key no longer decrypts what is
// stored and the new one does, and a server restarted with the new key
// serves its certificates from storage without a new issuance. A wrong
// old key changes nothing.
func TestRotateKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "rotate", pebbleOpts{})
	ctx := t.Context()
	pool := e.db.Pool
	m := newManager(t, pool, e.config(true))
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	first, err := handshake(serve(t, m, nil), "a."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v, %v; want 2 certificates", list, err)
	}
	certKey := list[0].Key
	privKey := strings.TrimSuffix(certKey, ".crt") + ".key"
	oldStorage, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: e.key})
	wantKeyPEM, err := oldStorage.Load(ctx, privKey)
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM public.condo_cert_storage`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	newKey, _ := condocert.ParseKey(condocert.NewKey())

	// A wrong old key: a clear error, and nothing changed.
	before := storageDigest(t, pool)
	wrong, _ := condocert.ParseKey(condocert.NewKey())
	n, err := condocert.RotateKey(ctx, pool, wrong, newKey)
	if !errors.Is(err, condocert.ErrWrongKey) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("RotateKey with a wrong old key: got %d, %v; want ErrWrongKey and \"nothing was changed\"", n, err)
	}
	t.Logf("wrong old key: %v", err)
	if got := storageDigest(t, pool); got != before {
		t.Error("RotateKey with a wrong old key changed the storage")
	}
	for name, keys := range map[string][2][]byte{
		"same key":      {e.key, e.key},
		"short new key": {e.key, newKey[:16]},
		"no new key":    {e.key, nil},
	} {
		if _, err := condocert.RotateKey(ctx, pool, keys[0], keys[1]); err == nil {
			t.Errorf("%s: RotateKey succeeded", name)
		}
	}

	n, err = condocert.RotateKey(ctx, pool, e.key, newKey)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if n != rows {
		t.Errorf("RotateKey: %d values rewritten, want all %d", n, rows)
	}
	if _, err := oldStorage.Load(ctx, privKey); !errors.Is(err, condocert.ErrWrongKey) {
		t.Errorf("Load with the old key after rotation: got %v, want ErrWrongKey", err)
	}
	newStorage, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: newKey})
	if got, err := newStorage.Load(ctx, privKey); err != nil || !bytes.Equal(got, wantKeyPEM) {
		t.Errorf("Load with the new key: %v; want the private key as before", err)
	}
	// Rotating again with the now wrong old key is refused as well.
	if _, err := condocert.RotateKey(ctx, pool, e.key, newKey); !errors.Is(err, condocert.ErrWrongKey) {
		t.Errorf("second rotation from the replaced key: got %v, want ErrWrongKey", err)
	}

	// A restart with the new key serves the stored certificates; the CA
	// sees no new order (the ACME account decrypts too).
	orders := e.ca.orders.Load()
	cfg := e.config(true)
	cfg.EncryptionKey = newKey
	m2 := newManager(t, pool, cfg)
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	leaf, err := handshake(serve(t, m2, nil), "b."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after rotation and restart: serial %x, want the stored %x", leaf.SerialNumber, first.SerialNumber)
	}
	if got := e.ca.orders.Load() - orders; got != 0 {
		t.Errorf("after rotation and restart: %d new orders, want 0", got)
	}
}

// TestRotateKeyFromPlaintext: storage kept in plaintext so far is
// encrypted by a rotation from no key, over several batches; a value that
// does not decrypt in the last batch undoes the batches before it.
func TestRotateKeyFromPlaintext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := condotest.NewDatabase(t)
	plain, _ := condocert.NewStorage(pool, nil)
	if err := plain.Store(ctx, "certificates/x/a/a.key", []byte("secret key")); err != nil {
		t.Fatal(err)
	}
	// More rows than one batch of RotateKey.
	if _, err := pool.Exec(ctx, `INSERT INTO public.condo_cert_storage (key, value, encrypted)
SELECT 'certificates/x/n' || i || '/n.crt', convert_to('cert ' || i, 'UTF8'), false FROM generate_series(1, 1200) i`); err != nil {
		t.Fatal(err)
	}
	key, _ := condocert.ParseKey(condocert.NewKey())
	n, err := condocert.RotateKey(ctx, pool, nil, key)
	if err != nil || n != 1201 {
		t.Fatalf("RotateKey from plaintext: %d, %v; want 1201, nil", n, err)
	}
	var plainRows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM public.condo_cert_storage
WHERE NOT encrypted OR position('secret'::bytea in value) > 0 OR position('cert '::bytea in value) > 0`).Scan(&plainRows); err != nil {
		t.Fatal(err)
	}
	if plainRows != 0 {
		t.Errorf("after rotation: %d rows readable", plainRows)
	}
	s, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: key})
	if got, err := s.Load(ctx, "certificates/x/a/a.key"); err != nil || string(got) != "secret key" {
		t.Errorf("Load with the new key: %q, %v", got, err)
	}
	if got, err := s.Load(ctx, "certificates/x/n1200/n.crt"); err != nil || string(got) != "cert 1200" {
		t.Errorf("Load with the new key: %q, %v", got, err)
	}
	// Now encrypted: a rotation that claims plaintext is refused.
	other, _ := condocert.ParseKey(condocert.NewKey())
	if _, err := condocert.RotateKey(ctx, pool, nil, other); !errors.Is(err, condocert.ErrWrongKey) {
		t.Errorf("RotateKey from no key over encrypted values: got %v, want ErrWrongKey", err)
	}
	// One damaged value, sorting last: the rows of the earlier batches,
	// already rewritten inside the transaction, are rolled back.
	if _, err := pool.Exec(ctx, `INSERT INTO public.condo_cert_storage (key, value, encrypted) VALUES ('zzz/damaged', 'garbage garbage garbage garbage', true)`); err != nil {
		t.Fatal(err)
	}
	before := storageDigest(t, pool)
	_, err = condocert.RotateKey(ctx, pool, key, other)
	if !errors.Is(err, condocert.ErrWrongKey) || !strings.Contains(err.Error(), `1 of 1202 values (first: "zzz/damaged")`) {
		t.Errorf("RotateKey with a damaged value: got %v", err)
	}
	if storageDigest(t, pool) != before {
		t.Error("a failed rotation changed the storage")
	}
}
