package condofiles

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/condo-dev/condo"
)

// Export writes every file of t to w as a tar stream, one entry per key
// (relative to the tenant, so [Files.Import] can restore it under another
// tenant: an import gets a new id). Its argument is explicit: export is
// operations, not tenant code.
func (f *Files) Export(ctx context.Context, t *condo.Tenant, w io.Writer) error {
	objs, err := f.list(ctx, t, "")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	tp := tenantPrefix(t)
	for _, o := range objs {
		if err := f.exportOne(ctx, tw, tp, o); err != nil {
			return fmt.Errorf("export tenant %q file %q: %w", t.Slug, o.Key, err)
		}
	}
	return tw.Close()
}

func (f *Files) exportOne(ctx context.Context, tw *tar.Writer, tp string, o Object) error {
	rc, got, err := f.backend.Get(ctx, tp+o.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(&tar.Header{Name: o.Key, Mode: 0o600, Size: got.Size,
		ModTime: got.Modified.UTC().Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err = io.Copy(tw, rc)
	return err
}

// Import stores the files of a tar stream written by [Files.Export] as
// t's. Every name is validated as a key (a crafted archive can no more
// escape the tenant than a request can) and every file is sniffed again;
// the size limit does not apply (they were accepted once). Entries other
// than regular files are refused. It reads r to the archive's end and no
// further, so the archive may sit inside a longer stream
// ([condo.Registry.Import]'s). Returns a [*KeyError] for a bad name.
func (f *Files) Import(ctx context.Context, t *condo.Tenant, r io.Reader) error {
	var files, bytes int64
	ctx = condo.WithTenant(ctx, t)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			f.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "imported tenant files", slog.String("tenant", t.Slug),
				slog.Int64("files", files), slog.Int64("bytes", bytes))
			return nil
		}
		if err != nil {
			return fmt.Errorf("import tenant %q files: %w", t.Slug, err)
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("import tenant %q files: %q is not a regular file", t.Slug, h.Name)
		}
		o, err := f.Put(ctx, h.Name, tr, &PutOpts{MaxSize: -1})
		if err != nil {
			return fmt.Errorf("import tenant %q files: %w", t.Slug, err)
		}
		files++
		bytes += o.Size
	}
}
