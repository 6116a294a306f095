package condocert_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// storageSuite checks the certmagic.Storage contract. It also runs against
// certmagic's FileStorage, the reference implementation, so the suite's
// expectations are certmagic's and not just ours.
func storageSuite(t *testing.T, s certmagic.Storage) {
	ctx := t.Context()
	put := func(k, v string) {
		t.Helper()
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatalf("Store(%q): %v", k, err)
		}
	}
	put("certificates/acme/a.example/a.example.crt", "cert-a")
	put("certificates/acme/a.example/a.example.key", "key-a")
	put("certificates/acme/b.example/b.example.crt", "cert-b")
	put("acme/ca/users/ops/ops.json", "account")

	t.Run("load", func(t *testing.T) {
		got, err := s.Load(ctx, "certificates/acme/a.example/a.example.key")
		if err != nil || string(got) != "key-a" {
			t.Fatalf("Load: got %q, %v; want key-a", got, err)
		}
		put("certificates/acme/a.example/a.example.key", "key-a2")
		got, _ = s.Load(ctx, "certificates/acme/a.example/a.example.key")
		if string(got) != "key-a2" {
			t.Fatalf("Load after overwrite: got %q, want key-a2", got)
		}
		if _, err := s.Load(ctx, "certificates/acme/nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load(missing): got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("exists", func(t *testing.T) {
		for k, want := range map[string]bool{
			"certificates/acme/a.example/a.example.crt": true,
			"certificates/acme/a.example":               true, // a directory
			"certificates":                              true,
			"certificates/acme/a.ex":                    false, // a prefix, but not at a '/'
			"nope":                                      false,
		} {
			if got := s.Exists(ctx, k); got != want {
				t.Errorf("Exists(%q) = %v, want %v", k, got, want)
			}
		}
	})
	t.Run("list", func(t *testing.T) {
		got, err := s.List(ctx, "certificates/acme", false)
		slices.Sort(got)
		want := []string{"certificates/acme/a.example", "certificates/acme/b.example"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("List: got %q, %v; want %q", got, err, want)
		}
		got, err = s.List(ctx, "certificates", true)
		slices.Sort(got)
		want = []string{
			"certificates/acme",
			"certificates/acme/a.example",
			"certificates/acme/a.example/a.example.crt",
			"certificates/acme/a.example/a.example.key",
			"certificates/acme/b.example",
			"certificates/acme/b.example/b.example.crt",
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("List recursive: got %q, %v; want %q", got, err, want)
		}
		if _, err := s.List(ctx, "nope", false); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List(missing): got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("stat", func(t *testing.T) {
		ki, err := s.Stat(ctx, "certificates/acme/b.example/b.example.crt")
		if err != nil || !ki.IsTerminal || ki.Size != int64(len("cert-b")) || time.Since(ki.Modified) > time.Minute {
			t.Fatalf("Stat(file): got %+v, %v", ki, err)
		}
		ki, err = s.Stat(ctx, "certificates/acme")
		if err != nil || ki.IsTerminal {
			t.Fatalf("Stat(dir): got %+v, %v; want a non-terminal key", ki, err)
		}
		if _, err := s.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat(missing): got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, "certificates/acme/b.example/b.example.crt"); err != nil {
			t.Fatal(err)
		}
		if s.Exists(ctx, "certificates/acme/b.example/b.example.crt") {
			t.Fatal("deleted key still exists")
		}
		if err := s.Delete(ctx, "certificates/acme/a.example"); err != nil {
			t.Fatal(err)
		}
		if s.Exists(ctx, "certificates/acme/a.example/a.example.key") {
			t.Fatal("key under a deleted directory still exists")
		}
		if !s.Exists(ctx, "acme/ca/users/ops/ops.json") {
			t.Fatal("Delete removed an unrelated key")
		}
		if err := s.Delete(ctx, "certificates/acme/never"); err != nil {
			t.Fatalf("Delete(missing): %v, want nil", err)
		}
	})
	t.Run("lock", func(t *testing.T) {
		if err := s.Lock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		locked := make(chan struct{})
		go func() {
			if err := s.Lock(ctx, "issue_cert_a.example"); err == nil {
				close(locked)
			}
		}()
		// Lock is TryLock until it succeeds, so a held lock that TryLock
		// cannot take is a Lock that waits; checked without waiting.
		// (certmagic's FileStorage has no TryLock: only the check below.)
		if tl, ok := s.(certmagic.TryLocker); ok {
			if ok, err := tl.TryLock(ctx, "issue_cert_a.example"); err != nil || ok {
				t.Fatalf("TryLock while the lock is held: %v, %v; want false, nil", ok, err)
			}
		}
		select {
		case <-locked:
			t.Fatal("second Lock returned while the lock was held")
		default:
		}
		if err := s.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-locked:
		case <-time.After(10 * time.Second):
			t.Fatal("second Lock did not return after Unlock")
		}
		if err := s.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStorageConformance(t *testing.T) {
	t.Parallel()
	t.Run("postgres encrypted", func(t *testing.T) {
		t.Parallel()
		key, _ := condocert.ParseKey(condocert.NewKey())
		s, err := condocert.NewStorage(condotest.NewDatabase(t), &condocert.StorageConfig{EncryptionKey: key, LockPollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		storageSuite(t, s)
	})
	t.Run("postgres plaintext", func(t *testing.T) {
		t.Parallel()
		s, err := condocert.NewStorage(condotest.NewDatabase(t), &condocert.StorageConfig{LockPollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		storageSuite(t, s)
	})
	t.Run("certmagic file storage", func(t *testing.T) {
		t.Parallel()
		storageSuite(t, &certmagic.FileStorage{Path: t.TempDir()})
	})
}

func TestStorageEncryptedAtRest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := condotest.NewDatabase(t)
	key, _ := condocert.ParseKey(condocert.NewKey())
	s, err := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nsecret\n")
	if err := s.Store(ctx, "certificates/x/a/a.key", secret); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	var enc bool
	if err := pool.QueryRow(ctx, `SELECT value, encrypted FROM public.condo_cert_storage WHERE key = 'certificates/x/a/a.key'`).Scan(&raw, &enc); err != nil {
		t.Fatal(err)
	}
	if !enc || bytes.Contains(raw, []byte("PRIVATE KEY")) || bytes.Contains(raw, []byte("secret")) {
		t.Fatalf("stored value is readable: encrypted=%v %q", enc, raw)
	}

	t.Run("wrong key", func(t *testing.T) {
		other, _ := condocert.ParseKey(condocert.NewKey())
		s2, _ := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: other})
		if _, err := s2.Load(ctx, "certificates/x/a/a.key"); err == nil {
			t.Fatal("Load with another key succeeded")
		}
		s3, _ := condocert.NewStorage(pool, nil)
		if _, err := s3.Load(ctx, "certificates/x/a/a.key"); err == nil {
			t.Fatal("Load without a key succeeded")
		}
	})
	t.Run("row moved to another key", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `INSERT INTO public.condo_cert_storage (key, value, encrypted) SELECT 'certificates/x/b/b.key', value, true FROM public.condo_cert_storage WHERE key = 'certificates/x/a/a.key'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, "certificates/x/b/b.key"); err == nil {
			t.Fatal("a ciphertext copied to another key decrypted")
		}
	})
	t.Run("bad key length", func(t *testing.T) {
		if _, err := condocert.NewStorage(pool, &condocert.StorageConfig{EncryptionKey: []byte("short")}); err == nil {
			t.Fatal("NewStorage accepted a 5-byte key")
		}
	})
}

func TestStorageLockCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	info := condotest.NewDatabaseInfo(t, nil)
	a, _ := condocert.NewStorage(info.Pool, &condocert.StorageConfig{LockPollInterval: 50 * time.Millisecond})
	b, _ := condocert.NewStorage(info.Pool, &condocert.StorageConfig{LockPollInterval: 50 * time.Millisecond})

	ok, err := a.TryLock(ctx, "issue_cert_x")
	if err != nil || !ok {
		t.Fatalf("a.TryLock: %v, %v", ok, err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_x"); err != nil || ok {
		t.Fatalf("b.TryLock while a holds it: got %v, %v; want false", ok, err)
	}
	if err := b.Unlock(ctx, "issue_cert_x"); err == nil {
		t.Fatal("b released a's lock")
	}
	if err := b.RenewLockLease(ctx, "issue_cert_x", time.Minute); err == nil {
		t.Fatal("b renewed a's lease")
	}
	if err := a.RenewLockLease(ctx, "issue_cert_x", time.Minute); err != nil {
		t.Fatalf("a.RenewLockLease: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatalf("a.Close: %v", err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_x"); err != nil || !ok {
		t.Fatalf("b.TryLock after a closed: %v, %v", ok, err)
	}

	// A holder that died leaves a row whose lease runs out; then the lock
	// is free.
	if _, err := info.Pool.Exec(ctx, `INSERT INTO public.condo_cert_locks VALUES ('issue_cert_dead', 'crashed', now() - interval '1 second')`); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Lock(lctx, "issue_cert_dead"); err != nil {
		t.Fatalf("Lock of an expired lease: %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
