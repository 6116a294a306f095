package thumbs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // photo formats the app accepts
	"image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condojobs"
)

// Width is a thumbnail's largest width; a narrower photo keeps its size.
const Width = 320

// MaxPixels is the largest photo, in pixels, a thumbnail is made of.
const MaxPixels = 40_000_000

// Args asks for the thumbnail of the photo at Photo, written to Thumb:
// keys among the enqueuing tenant's files.
type Args struct {
	Photo string `json:"photo"`
	Thumb string `json:"thumb"`
}

// Kind is the job's kind.
func (Args) Kind() string { return "hotels_thumbnail" }

// Thumbs works the thumbnail jobs. Its worker is registered before the
// stack is built ([New]); the file store is given with the app
// ([Thumbs.Use]).
type Thumbs struct {
	files  atomic.Pointer[condofiles.Files]
	logger *slog.Logger
}

// errNotReady: the job ran before [Thumbs.Use]; River tries it again.
var errNotReady = errors.New("thumbs: the file store is not set yet")

// New registers the thumbnail worker in ws.
func New(ws *condojobs.Workers, logger *slog.Logger) *Thumbs {
	if logger == nil {
		logger = slog.Default()
	}
	th := &Thumbs{logger: logger}
	condojobs.AddTenant(ws, th.work)
	return th
}

// Use gives the worker the file store.
func (th *Thumbs) Use(files *condofiles.Files) { th.files.Store(files) }

// work makes one thumbnail. It runs in the tenant's transaction, which it
// does not need: the tenant in ctx is what scopes the files. A photo that
// is gone (replaced, or its hotel deleted), a key that is not one, or an
// image that can't be decoded is not retried: the job is cancelled and
// logged.
func (th *Thumbs) work(ctx context.Context, _ pgx.Tx, job *river.Job[Args]) error {
	files := th.files.Load()
	if files == nil {
		return errNotReady
	}
	err := th.make(ctx, files, job.Args)
	var bad *badPhotoError
	if errors.Is(err, condofiles.ErrNotFound) || errors.Is(err, condofiles.ErrInvalidKey) || errors.As(err, &bad) {
		t, _ := condo.TenantFromContext(ctx)
		th.logger.LogAttrs(ctx, slog.LevelWarn, "thumbnail not made", slog.String("tenant", t.Slug),
			slog.String("key", job.Args.Photo), slog.String("error", err.Error()))
		return river.JobCancel(err)
	}
	return err
}

type badPhotoError struct{ err error }

func (e *badPhotoError) Error() string { return "photo: " + e.err.Error() }
func (e *badPhotoError) Unwrap() error { return e.err }

func (th *Thumbs) make(ctx context.Context, files *condofiles.Files, a Args) error {
	if err := condofiles.ValidateKey(a.Thumb); err != nil {
		return err
	}
	rc, _, err := files.Open(ctx, a.Photo)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Read once: DecodeConfig, then Decode.
	raw, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", a.Photo, err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return &badPhotoError{err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return &badPhotoError{fmt.Errorf("%d×%d pixels: at most %d", cfg.Width, cfg.Height, MaxPixels)}
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return &badPhotoError{err}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Scale(src, Width), &jpeg.Options{Quality: 82}); err != nil {
		return err
	}
	if _, err := files.Put(ctx, a.Thumb, &buf, &condofiles.PutOpts{ContentTypes: []string{"image/jpeg"}}); err != nil {
		return fmt.Errorf("store %s: %w", a.Thumb, err)
	}
	return nil
}

// Scale returns src at most width pixels wide, keeping its proportions
// (a narrower image is copied as it is).
func Scale(src image.Image, width int) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > width {
		w, h = width, max(1, h*width/w)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	return dst
}
