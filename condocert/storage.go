package condocert

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/seal"
)

// StorageConfig configures a [Storage]. A nil *StorageConfig is valid but
// stores values unencrypted.
type StorageConfig struct {
	// EncryptionKey is a 32-byte AES-256 key. When set, every value is
	// sealed with AES-GCM before it is written (the storage key is bound as
	// additional data, so a row cannot be moved to another key). Load it
	// with [LoadKey]. Nil stores values in plaintext, which is only fit for
	// tests and development.
	EncryptionKey []byte
	// LockLease is how long a lock stays valid without renewal. A holder
	// renews it every LockLease/3 while it is alive, so a crashed instance
	// blocks the others for at most one lease. Defaults to 2 minutes.
	LockLease time.Duration
	// LockPollInterval is how often a waiting Lock call retries. Defaults
	// to 1 second.
	LockPollInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Storage keeps certificates, private keys, ACME accounts and locks in
// PostgreSQL (tables public.condo_cert_storage and public.condo_cert_locks,
// created by Condo's shared migrations), so that every server instance
// sharing the database serves the same certificates.
//
// It implements [certmagic.Storage], [certmagic.TryLocker] and
// [certmagic.LockLeaseRenewer].
//
// # Locking
//
// A lock is a row with a lease rather than a PostgreSQL advisory lock:
// advisory locks belong to a session, so each held lock would pin one pool
// connection for the length of an ACME order (up to minutes), and a
// connection dropped by a proxy would release the lock silently. A lease
// row needs no connection while held, survives reconnects, and a holder
// that dies is replaced after at most [StorageConfig.LockLease]. The holder
// renews the lease in the background until Unlock.
type Storage struct {
	pool   *pgxpool.Pool
	box    *seal.Box // nil: values are stored in plaintext
	lease  time.Duration
	poll   time.Duration
	owner  string
	logger *slog.Logger

	mu   sync.Mutex
	held map[string]context.CancelFunc // lock name → stops its lease renewal
	wg   sync.WaitGroup
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// NewStorage returns a Storage using pool. It returns an error if the
// encryption key is not 32 bytes long.
func NewStorage(pool *pgxpool.Pool, cfg *StorageConfig) (*Storage, error) {
	if cfg == nil {
		cfg = &StorageConfig{}
	}
	s := &Storage{
		pool:   pool,
		lease:  cmp.Or(cfg.LockLease, 2*time.Minute),
		poll:   cmp.Or(cfg.LockPollInterval, time.Second),
		logger: cmp.Or(cfg.Logger, slog.Default()),
		held:   map[string]context.CancelFunc{},
	}
	if cfg.EncryptionKey != nil {
		box, err := seal.New(cfg.EncryptionKey)
		if err != nil {
			return nil, err
		}
		s.box = box
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	s.owner = hex.EncodeToString(b[:])
	return s, nil
}

// Encrypted reports whether values are encrypted at rest.
func (s *Storage) Encrypted() bool { return s.box != nil }

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "condocert.Storage" }

// ErrWrongKey is returned (wrapped) by [Storage.Load] and [RotateKey]
// when a stored value does not decrypt with the configured key: the key
// is not the one it was encrypted with, or the row was altered.
var ErrWrongKey = errors.New("value does not decrypt with the certificate storage key")

// errNotHeld: the lock is not (or no longer) this Storage's.
var errNotHeld = errors.New("not held by this instance")

func normKey(key string) string { return strings.Trim(key, "/") }

// prefixRange returns the bounds of the keys strictly under dir: with the
// "C" collation, '0' is the byte after '/'.
func prefixRange(dir string) (lo, hi string) { return dir + "/", dir + "0" }

func (s *Storage) seal(key string, value []byte) ([]byte, bool) {
	if s.box == nil {
		return value, false
	}
	return s.box.Seal(value, []byte(key)), true
}

func (s *Storage) open(key string, value []byte, encrypted bool) ([]byte, error) {
	if !encrypted {
		return value, nil
	}
	if s.box == nil {
		return nil, fmt.Errorf("load %q: value is encrypted and no encryption key is configured: %w", key, ErrWrongKey)
	}
	plain, err := s.box.Open(value, []byte(key))
	if err != nil {
		// Wrong key, or the row was tampered with or moved.
		return nil, fmt.Errorf("load %q: %w: %w", key, ErrWrongKey, err)
	}
	return plain, nil
}

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	key = normKey(key)
	if key == "" {
		return errors.New("store: empty key")
	}
	v, enc := s.seal(key, value)
	_, err := s.pool.Exec(ctx, `INSERT INTO public.condo_cert_storage (key, value, encrypted, modified)
VALUES ($1, $2, $3, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, encrypted = EXCLUDED.encrypted, modified = now()`, key, v, enc)
	if err != nil {
		return fmt.Errorf("store %q: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping [fs.ErrNotExist].
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	key = normKey(key)
	var v []byte
	var enc bool
	err := s.pool.QueryRow(ctx, `SELECT value, encrypted FROM public.condo_cert_storage WHERE key = $1`, key).Scan(&v, &enc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("load %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", key, err)
	}
	return s.open(key, v, enc)
}

// Delete deletes key and every key under it. Deleting a key that does not
// exist is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	key = normKey(key)
	if key == "" {
		return errors.New("delete: empty key")
	}
	lo, hi := prefixRange(key)
	_, err := s.pool.Exec(ctx, `DELETE FROM public.condo_cert_storage WHERE key = $1 OR (key >= $2 AND key < $3)`, key, lo, hi)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Exists reports whether key exists as a value or as a prefix of values.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	key = normKey(key)
	lo, hi := prefixRange(key)
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.condo_cert_storage WHERE key = $1 OR (key >= $2 AND key < $3))`, key, lo, hi).Scan(&ok)
	return err == nil && ok
}

// List returns the keys under prefix: its direct children when recursive
// is false, and every key and intermediate directory under it otherwise.
// It returns an error wrapping [fs.ErrNotExist] when nothing is under
// prefix.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	prefix = normKey(prefix)
	var rows pgx.Rows
	var err error
	if prefix == "" {
		rows, err = s.pool.Query(ctx, `SELECT key FROM public.condo_cert_storage ORDER BY key`)
	} else {
		lo, hi := prefixRange(prefix)
		rows, err = s.pool.Query(ctx, `SELECT key FROM public.condo_cert_storage WHERE key >= $1 AND key < $2 ORDER BY key`, lo, hi)
	}
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("list %q: %w", prefix, fs.ErrNotExist)
	}
	join := func(rel string) string {
		if prefix == "" {
			return rel
		}
		return prefix + "/" + rel
	}
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rel := k
		if prefix != "" {
			rel = k[len(prefix)+1:]
		}
		parts := strings.Split(rel, "/")
		if !recursive {
			add(join(parts[0]))
			continue
		}
		for i := 1; i <= len(parts); i++ {
			add(join(strings.Join(parts[:i], "/")))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Stat describes key, or returns an error wrapping [fs.ErrNotExist].
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = normKey(key)
	var size int64
	var enc bool
	var mod time.Time
	err := s.pool.QueryRow(ctx, `SELECT length(value), encrypted, modified FROM public.condo_cert_storage WHERE key = $1`, key).Scan(&size, &enc, &mod)
	if err == nil {
		if enc && s.box != nil {
			size -= int64(s.box.Overhead())
		}
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: size, IsTerminal: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %q: %w", key, err)
	}
	lo, hi := prefixRange(key)
	err = s.pool.QueryRow(ctx, `SELECT max(modified) FROM public.condo_cert_storage WHERE key >= $1 AND key < $2 HAVING count(*) > 0`, lo, hi).Scan(&mod)
	if errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %q: %w", key, err)
	}
	return certmagic.KeyInfo{Key: key, Modified: mod, IsTerminal: false}, nil
}

// Lock takes the cluster-wide lock name, waiting until it is free, its
// holder's lease expired, or ctx is done.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock %q: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free and reports whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO public.condo_cert_locks AS l (name, owner, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < now()`, name, s.owner, s.lease.Seconds())
	if err != nil {
		return false, fmt.Errorf("lock %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	s.startRenewal(name)
	return true, nil
}

// startRenewal keeps the lease of a held lock alive until Unlock.
func (s *Storage) startRenewal(name string) {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if old, ok := s.held[name]; ok {
		old() // an expired lease of ours that we just took over again
	}
	s.held[name] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(s.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.RenewLockLease(ctx, name, s.lease); err != nil && ctx.Err() == nil {
					s.logger.LogAttrs(ctx, slog.LevelWarn, "renew certificate lock lease",
						slog.String("lock", name), slog.String("error", err.Error()))
				}
			}
		}
	}()
}

// RenewLockLease extends the lease of a lock this Storage holds to
// leaseDuration from now. It returns an error if the lock is not held
// (any more) by this Storage.
func (s *Storage) RenewLockLease(ctx context.Context, name string, leaseDuration time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE public.condo_cert_locks SET expires_at = now() + make_interval(secs => $3)
WHERE name = $1 AND owner = $2`, name, s.owner, leaseDuration.Seconds())
	if err != nil {
		return fmt.Errorf("renew lock %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("renew lock %q: %w", name, errNotHeld)
	}
	return nil
}

// Unlock releases the lock name. It returns an error if this Storage does
// not hold it.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if cancel, ok := s.held[name]; ok {
		cancel()
		delete(s.held, name)
	}
	s.mu.Unlock()
	// Release even if ctx is done (certmagic unlocks with the context of
	// an operation that may have been cancelled), as a rollback would.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM public.condo_cert_locks WHERE name = $1 AND owner = $2`, name, s.owner)
	if err != nil {
		return fmt.Errorf("unlock %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("unlock %q: %w", name, errNotHeld)
	}
	return nil
}

// Close releases every lock this Storage still holds and stops their lease
// renewals. The pool is not closed.
func (s *Storage) Close(ctx context.Context) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.held))
	for name := range s.held {
		names = append(names, name)
	}
	s.mu.Unlock()
	var errs []error
	for _, name := range names {
		if err := s.Unlock(ctx, name); err != nil && !errors.Is(err, errNotHeld) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
