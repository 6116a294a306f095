package condofiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Local stores objects as files under one root directory: a directory per
// tenant ("tenant_42"), the key's segments as subdirectories. The content
// type is sniffed again on read: it is a function of the bytes, so no
// sidecar file can disagree with them.
type Local struct {
	root string
}

// NewLocal returns a backend rooted at dir. Nothing is created until the
// first upload, which makes the directories it needs (0700), so an
// application may build it before it knows whether it will store
// anything (a CLI command).
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("files dir: %w", err)
	}
	return &Local{root: abs}, nil
}

// Dir returns the backend's root directory (absolute).
func (l *Local) Dir() string { return l.root }

// path turns a whole name into a file path under the root. Names reach a
// backend validated by [Files]; checking again here keeps the backend
// safe on its own.
func (l *Local) path(name string) (string, error) {
	if err := validate(name); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(name)), nil
}

// Put writes body to a temporary file beside the target ("." names are
// never keys) and renames it into place: a reader sees the old file or
// the new one, never half of one.
func (l *Local) Put(ctx context.Context, name string, body io.ReadSeeker, size int64, contentType string) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Get opens name.
func (l *Local) Get(ctx context.Context, name string) (io.ReadCloser, Object, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, Object{}, err
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, Object{}, notFound(err)
	}
	o, err := describe(fh, name)
	if err != nil {
		fh.Close()
		return nil, Object{}, err
	}
	return fh, o, nil
}

// describe stats and sniffs an open file, leaving it at its start.
func describe(fh *os.File, name string) (Object, error) {
	st, err := fh.Stat()
	if err != nil {
		return Object{}, err
	}
	if !st.Mode().IsRegular() {
		return Object{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	ctype, err := sniff(fh)
	if err != nil {
		return Object{}, err
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return Object{}, err
	}
	return Object{Key: name, Size: st.Size(), ContentType: ctype, Modified: st.ModTime()}, nil
}

// Stat describes name.
func (l *Local) Stat(ctx context.Context, name string) (Object, error) {
	rc, o, err := l.Get(ctx, name)
	if err != nil {
		return Object{}, err
	}
	rc.Close()
	return o, nil
}

// Delete removes name.
func (l *Local) Delete(ctx context.Context, name string) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List walks the directory holding prefix, in name order.
func (l *Local) List(ctx context.Context, prefix string, fn func(Object) error) error {
	dir := strings.TrimSuffix(path.Dir(prefix+"x"), ".")
	start := filepath.Join(l.root, filepath.FromSlash(dir))
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() && p != start {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(Object{Key: name, Size: info.Size(), Modified: info.ModTime()})
	})
	return err
}

// DeletePrefix removes the objects under prefix; a prefix ending in "/"
// (a tenant's) removes its whole directory.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) error {
	if strings.HasSuffix(prefix, "/") {
		p, err := l.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return err
		}
		return os.RemoveAll(p)
	}
	var names []string
	if err := l.List(ctx, prefix, func(o Object) error { names = append(names, o.Key); return nil }); err != nil {
		return err
	}
	for _, n := range names {
		if err := l.Delete(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w", ErrNotFound)
	}
	return err
}
