package condofiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// ErrNotFound is returned for a key with no object. It wraps
// [fs.ErrNotExist].
var ErrNotFound = fmt.Errorf("file not found: %w", fs.ErrNotExist)

// ErrTooLarge is returned by [Files.Put] for an upload over the limit.
var ErrTooLarge = errors.New("file too large")

// ErrContentType is returned by [Files.Put] when the sniffed content type
// is not one of [PutOpts].ContentTypes.
var ErrContentType = errors.New("content type not allowed")

// Object describes one stored file. Key is relative to the tenant in
// what [Files] returns, and the whole name in what a [Backend] returns.
type Object struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
}

// Backend stores objects under whole names ("tenant_42/photos/a.jpg").
// It knows nothing of tenants: [Files] validates keys and adds the
// tenant's prefix, and is the only caller tenant code should use.
// Implementations: [Local] and [S3].
type Backend interface {
	// Put stores body (size bytes, seekable so that a signing client
	// can hash it) under name, replacing what was there.
	Put(ctx context.Context, name string, body io.ReadSeeker, size int64, contentType string) error
	// Get opens name. Returns an error wrapping [ErrNotFound].
	Get(ctx context.Context, name string) (io.ReadCloser, Object, error)
	// Stat describes name. Returns an error wrapping [ErrNotFound].
	Stat(ctx context.Context, name string) (Object, error)
	// Delete removes name; removing a missing name is not an error.
	Delete(ctx context.Context, name string) error
	// List calls fn for every object whose name starts with prefix, in
	// name order, until fn returns an error.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// DeletePrefix removes every object whose name starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Presigner is a [Backend] that can sign a URL its server will honour
// for a short while (S3's presigned GET). [Files.URL] uses it unless
// [Config].ServeThroughServer is set.
type Presigner interface {
	PresignGet(ctx context.Context, name string, ttl time.Duration) (string, error)
}
