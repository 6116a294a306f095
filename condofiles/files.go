package condofiles

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/condo-dev/condo"
)

// DefaultMaxSize is [Config].MaxSize's default: 10 MiB.
const DefaultMaxSize = 10 << 20

// DefaultURLTTL is [Config].URLTTL's default.
const DefaultURLTTL = 5 * time.Minute

// Config configures [Files]. The zero value is usable.
type Config struct {
	// MaxSize is the largest upload [Files.Put] accepts, in bytes.
	// Defaults to [DefaultMaxSize].
	MaxSize int64
	// URLTTL is how long a URL from [Files.URL] stays valid. Defaults to
	// [DefaultURLTTL].
	URLTTL time.Duration
	// URLPrefix is the path [Files.Handler] is mounted at on the tenant's
	// host, for URLs signed by the server. Defaults to "/files/".
	URLPrefix string
	// SigningKey signs the server's URLs. Defaults to 32 random bytes
	// per process: URLs then die with a restart and are honoured by this
	// process only; set it (the same on every instance) otherwise.
	SigningKey []byte
	// ServeThroughServer makes [Files.URL] sign URLs served by
	// [Files.Handler] even when the backend can presign its own (S3):
	// for a bucket that is not reachable by browsers.
	ServeThroughServer bool
	// TempDir holds uploads while they stream in. Defaults to
	// os.TempDir().
	TempDir string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Files is a tenant-aware file store: every method taking a key finds the
// tenant in ctx and reaches that tenant's objects only.
type Files struct {
	backend Backend
	cfg     Config
}

// New returns a tenant-aware store over b. It panics if b is nil (a
// programmer error).
func New(b Backend, cfg *Config) *Files {
	if b == nil {
		panic("condofiles: nil backend")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	c.MaxSize = cmp.Or(c.MaxSize, DefaultMaxSize)
	c.URLTTL = cmp.Or(c.URLTTL, DefaultURLTTL)
	c.URLPrefix = cmp.Or(c.URLPrefix, "/files/")
	if !strings.HasSuffix(c.URLPrefix, "/") {
		c.URLPrefix += "/"
	}
	c.TempDir = cmp.Or(c.TempDir, os.TempDir())
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if len(c.SigningKey) == 0 {
		c.SigningKey = make([]byte, 32)
		rand.Read(c.SigningKey)
	}
	return &Files{backend: b, cfg: c}
}

// Backend returns the store's backend.
func (f *Files) Backend() Backend { return f.backend }

// WithSigningKey returns a store over the same backend and configuration
// whose server-signed URLs use key ([Config].SigningKey). An application
// that keeps a secret in its database derives the key from it once that
// is loaded, after the stack is built, so that every instance honours the
// URLs any of them signs, and URLs outlive a restart. It panics if key is
// empty (a programmer error).
func (f *Files) WithSigningKey(key []byte) *Files {
	if len(key) == 0 {
		panic("condofiles: empty signing key")
	}
	c := f.cfg
	c.SigningKey = slices.Clone(key)
	return &Files{backend: f.backend, cfg: c}
}

// name validates key and returns its whole name for the tenant in ctx.
// Returns [condo.ErrNoTenant] or a [*KeyError].
func (f *Files) name(ctx context.Context, key string) (*condo.Tenant, string, error) {
	t, ok := condo.TenantFromContext(ctx)
	if !ok {
		return nil, "", condo.ErrNoTenant
	}
	if err := ValidateKey(key); err != nil {
		return nil, "", err
	}
	return t, tenantPrefix(t) + key, nil
}

// PutOpts are per-upload options; nil is fine.
type PutOpts struct {
	// ContentTypes, when set, are the sniffed types allowed (e.g.
	// "image/jpeg", "image/png"). Empty: any.
	ContentTypes []string
	// MaxSize lowers [Config].MaxSize for this upload; negative lifts
	// the limit (an import of files accepted once already).
	MaxSize int64
}

// Put stores r under key for the tenant in ctx, replacing any object
// there. It streams r to a temporary file and stops reading one byte past
// the limit, so an oversized upload costs no more than the limit and
// leaves nothing behind. The content type is sniffed from the first 512
// bytes (http.DetectContentType), never taken from the client.
//
// Returns [condo.ErrNoTenant], a [*KeyError], [ErrTooLarge],
// [ErrContentType], or the backend's error.
func (f *Files) Put(ctx context.Context, key string, r io.Reader, opts *PutOpts) (Object, error) {
	_, name, err := f.name(ctx, key)
	if err != nil {
		return Object{}, err
	}
	if opts == nil {
		opts = &PutOpts{}
	}
	limit := f.cfg.MaxSize
	switch {
	case opts.MaxSize < 0:
		limit = math.MaxInt64 - 1
	case opts.MaxSize > 0 && opts.MaxSize < limit:
		limit = opts.MaxSize
	}
	tmp, err := os.CreateTemp(f.cfg.TempDir, "condofiles-upload-")
	if err != nil {
		return Object{}, fmt.Errorf("upload %q: %w", key, err)
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	n, err := io.Copy(tmp, io.LimitReader(r, limit+1))
	if err != nil {
		return Object{}, fmt.Errorf("upload %q: %w", key, err)
	}
	if n > limit {
		return Object{}, fmt.Errorf("upload %q: over %d bytes: %w", key, limit, ErrTooLarge)
	}
	ctype, err := sniff(tmp)
	if err != nil {
		return Object{}, fmt.Errorf("upload %q: %w", key, err)
	}
	if len(opts.ContentTypes) > 0 && !slices.Contains(opts.ContentTypes, baseType(ctype)) {
		return Object{}, fmt.Errorf("upload %q: %s: %w", key, ctype, ErrContentType)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Object{}, err
	}
	if err := f.backend.Put(ctx, name, tmp, n, ctype); err != nil {
		return Object{}, fmt.Errorf("store %q: %w", key, err)
	}
	return Object{Key: key, Size: n, ContentType: ctype, Modified: time.Now()}, nil
}

// sniff returns the content type of r's first 512 bytes, read from the
// start.
func sniff(r io.ReadSeeker) (string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return http.DetectContentType(head[:n]), nil
}

// baseType is a media type without its parameters.
func baseType(ctype string) string {
	t, _, _ := strings.Cut(ctype, ";")
	return strings.TrimSpace(t)
}

// Open opens key for the tenant in ctx. Close the reader. Returns
// [condo.ErrNoTenant], a [*KeyError], or an error wrapping [ErrNotFound].
func (f *Files) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	_, name, err := f.name(ctx, key)
	if err != nil {
		return nil, Object{}, err
	}
	rc, o, err := f.backend.Get(ctx, name)
	if err != nil {
		return nil, Object{}, fmt.Errorf("open %q: %w", key, err)
	}
	o.Key = key
	return rc, o, nil
}

// Stat describes key for the tenant in ctx. Returns [condo.ErrNoTenant],
// a [*KeyError], or an error wrapping [ErrNotFound].
func (f *Files) Stat(ctx context.Context, key string) (Object, error) {
	_, name, err := f.name(ctx, key)
	if err != nil {
		return Object{}, err
	}
	o, err := f.backend.Stat(ctx, name)
	if err != nil {
		return Object{}, fmt.Errorf("stat %q: %w", key, err)
	}
	o.Key = key
	return o, nil
}

// Delete removes key for the tenant in ctx; a missing key is not an
// error. Returns [condo.ErrNoTenant] or a [*KeyError].
func (f *Files) Delete(ctx context.Context, key string) error {
	_, name, err := f.name(ctx, key)
	if err != nil {
		return err
	}
	if err := f.backend.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// List returns the tenant's objects whose keys start with prefix ("" for
// all, or whole segments ending in "/"), in key order. Returns
// [condo.ErrNoTenant] or a [*KeyError].
func (f *Files) List(ctx context.Context, prefix string) ([]Object, error) {
	t, ok := condo.TenantFromContext(ctx)
	if !ok {
		return nil, condo.ErrNoTenant
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	return f.list(ctx, t, prefix)
}

func (f *Files) list(ctx context.Context, t *condo.Tenant, prefix string) ([]Object, error) {
	tp := tenantPrefix(t)
	var out []Object
	err := f.backend.List(ctx, tp+prefix, func(o Object) error {
		o.Key = strings.TrimPrefix(o.Key, tp)
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tenant %q files: %w", t.Slug, err)
	}
	return out, nil
}

// Usage is one tenant's storage.
type Usage struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// Usage counts the objects and bytes of the tenant in ctx, by listing
// them: exact, and cheap for the thousands of files a tenant of a small
// SaaS keeps. Returns [condo.ErrNoTenant].
func (f *Files) Usage(ctx context.Context) (Usage, error) {
	t, ok := condo.TenantFromContext(ctx)
	if !ok {
		return Usage{}, condo.ErrNoTenant
	}
	return f.TenantUsage(ctx, t)
}

// TenantUsage is [Files.Usage] for t, for operations (the admin's
// dashboard) rather than tenant code.
func (f *Files) TenantUsage(ctx context.Context, t *condo.Tenant) (Usage, error) {
	var u Usage
	err := f.backend.List(ctx, tenantPrefix(t), func(o Object) error {
		u.Objects++
		u.Bytes += o.Size
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("usage of tenant %q: %w", t.Slug, err)
	}
	return u, nil
}

// Purge removes every file of t. Run it when t is purged (the registry
// forgets the tenant, so nothing could reach its files any more);
// [condostack] does. Its argument is explicit: purging is operations, not
// tenant code.
func (f *Files) Purge(ctx context.Context, t *condo.Tenant) error {
	if err := f.backend.DeletePrefix(ctx, tenantPrefix(t)); err != nil {
		return fmt.Errorf("purge tenant %q files: %w", t.Slug, err)
	}
	f.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "purged tenant files", slog.String("tenant", t.Slug), slog.Int64("tenant_id", t.ID))
	return nil
}

// Files is the registry's file store: purged and exported with the tenant.
var _ condo.TenantFiles = (*Files)(nil)
