package condocert

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rotateBatch is how many rows RotateKey reads and rewrites at a time, so
// that its memory does not grow with the number of certificates.
const rotateBatch = 500

// RotateKey re-encrypts every value of public.condo_cert_storage that is
// encrypted with oldKey so that it is encrypted with newKey, and encrypts
// values stored in plaintext (see [Config.InsecurePlaintextStorage]) with
// newKey. A nil oldKey means the storage has been plaintext so far. It
// returns the number of values rewritten.
//
// It runs in one transaction and is all or nothing: if any value does not
// decrypt with oldKey it changes nothing and returns an error wrapping
// [ErrWrongKey] that counts them and names the first. Writers (servers
// storing a new certificate) wait for it; readers do not. Servers still
// running with oldKey can no longer read what they stored: restart every
// instance with newKey right after, or stop them first.
func RotateKey(ctx context.Context, pool *pgxpool.Pool, oldKey, newKey []byte) (int, error) {
	var errs []error
	if oldKey != nil && len(oldKey) != 32 {
		errs = append(errs, fmt.Errorf("old key: got %d bytes, want 32", len(oldKey)))
	}
	if len(newKey) != 32 {
		errs = append(errs, fmt.Errorf("new key: got %d bytes, want 32", len(newKey)))
	}
	if oldKey != nil && bytes.Equal(oldKey, newKey) {
		errs = append(errs, errors.New("the new key is the old key"))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("rotate certificate storage key: %w", err)
	}
	from, err := NewStorage(pool, &StorageConfig{EncryptionKey: oldKey})
	if err != nil {
		return 0, fmt.Errorf("rotate certificate storage key: %w", err)
	}
	to, err := NewStorage(pool, &StorageConfig{EncryptionKey: newKey})
	if err != nil {
		return 0, fmt.Errorf("rotate certificate storage key: %w", err)
	}

	n, err := rotate(ctx, pool, from, to)
	if err != nil {
		return 0, fmt.Errorf("rotate certificate storage key: %w", err)
	}
	return n, nil
}

func rotate(ctx context.Context, pool *pgxpool.Pool, from, to *Storage) (n int, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Writers wait (a value stored under the old key meanwhile would be
	// lost to the new one); readers go on. The mode conflicts with itself,
	// so two rotations run one after the other.
	if _, err := tx.Exec(ctx, `LOCK TABLE public.condo_cert_storage IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return 0, err
	}
	type row struct {
		key       string
		value     []byte
		encrypted bool
	}
	var (
		last   string
		total  int
		failed []string
	)
	for {
		rows, err := tx.Query(ctx, `SELECT key, value, encrypted FROM public.condo_cert_storage
WHERE key > $1 ORDER BY key LIMIT $2`, last, rotateBatch)
		if err != nil {
			return 0, err
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.key, &x.value, &x.encrypted)
			return x, err
		})
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			break
		}
		last = batch[len(batch)-1].key
		total += len(batch)
		var b pgx.Batch
		for _, r := range batch {
			plain, err := from.open(r.key, r.value, r.encrypted)
			if err != nil {
				failed = append(failed, r.key)
				continue
			}
			if len(failed) > 0 {
				continue // nothing will be written; only counting
			}
			sealed, _ := to.seal(r.key, plain)
			// modified is kept: the content has not changed.
			b.Queue(`UPDATE public.condo_cert_storage SET value = $2, encrypted = true WHERE key = $1`, r.key, sealed)
		}
		if len(failed) == 0 {
			if err := tx.SendBatch(ctx, &b).Close(); err != nil {
				return 0, err
			}
			n += b.Len()
		}
	}
	if len(failed) > 0 {
		return 0, fmt.Errorf("%d of %d values (first: %q) do not decrypt with the old key; nothing was changed: %w",
			len(failed), total, failed[0], ErrWrongKey)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}
