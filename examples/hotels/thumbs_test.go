package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/thumbs"
)

// A photo uploaded on acme gets its thumbnail from a job; the page shows
// it, on acme's host only, and a forged key gets nothing.
func testBrowserThumbnail(t *testing.T) {
	ta := newTestApp(t, &appOpts{mail: true})
	acme := ta.tenant("acme", "ann@acme.example", "Acme Lodge")
	ta.tenant("globex", "gus@globex.example", "Globex Tower")
	id := ta.hotelID(acme, "Acme Lodge")
	photo := filepath.Join(t.TempDir(), "lodge.png")
	if err := os.WriteFile(photo, testPNG(t, 640, 480), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ta)
	ann, visitor := b.user("ann"), b.user("visitor")
	ann.open(ta.url("acme", fmt.Sprintf("/hotels/%d", id)))
	ann.fill("#f-email", "ann@acme.example", "#f-password", testPassword)
	ann.click(`main form button[type=submit]`)
	if err := chromedp.Do(ann.ctx, chromedp.SetUploadFiles(chromedp.CSS("#f-photo"), []string{photo})); err != nil {
		t.Fatal(err)
	}
	ann.click("#photo-submit")
	ann.expect("uploaded", "Photo uploaded.")

	// The job runs in the background: its file appears.
	actx := condo.WithTenant(context.Background(), acme)
	condotest.WaitFor(t, 30*time.Second, "the thumbnail", func() error {
		_, err := ta.env.Files.Stat(actx, fmt.Sprintf("hotels/%d/thumb", id))
		return err
	})
	ann.open(ta.url("acme", fmt.Sprintf("/hotels/%d", id)))
	ann.expect("thumbnail", "Acme Lodge", "Replace the photo")
	width, err := chromedp.Run(ann.ctx, chromedp.Evaluate[int](
		`(async () => { const i = document.getElementById("hotel-thumb"); await i.decode(); return i.naturalWidth })()`,
		chromedp.EvalAwaitPromise))
	if err != nil || width != thumbs.Width {
		t.Fatalf("the thumbnail in the page: width %d, %v; want %d", width, err, thumbs.Width)
	}
	src, err := chromedp.Run(ann.ctx, chromedp.AttributeValue(chromedp.CSS("#hotel-thumb"), "src"))
	if err != nil || !strings.HasPrefix(src.Value, fmt.Sprintf("/files/hotels/%d/thumb?", id)) {
		t.Fatalf("thumbnail src: %q, %v", src.Value, err)
	}
	if st := visitor.open(ta.url("acme", src.Value)); st != 200 {
		t.Fatalf("the signed thumbnail URL on acme's host: status %d, want 200", st)
	}
	if st := visitor.open(ta.url("globex", src.Value)); st != 404 {
		t.Errorf("acme's thumbnail URL on globex's host: status %d, want 404", st)
	}
	forged := strings.Replace(src.Value, "/thumb?", "/photo?", 1)
	if st := visitor.open(ta.url("acme", forged)); st != 404 {
		t.Errorf("forged %s: status %d, want 404", forged, st)
	}
	ta.noErrors()
}

// TestThumbnailJobFiles: a job enqueued for acme reaches acme's files
// only. Asked for a key that is globex's photo (there, not in acme's
// files) or a path out of acme's files, it finds nothing, writes nothing
// and is cancelled (and logged); globex's photo is untouched.
func TestThumbnailJobFiles(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{mail: true})
	acme := ta.tenant("acme", "ann@acme.example")
	globex := ta.tenant("globex", "gus@globex.example")
	gctx := condo.WithTenant(context.Background(), globex)
	if _, err := ta.env.Files.Put(gctx, "hotels/1/photo", bytes.NewReader(testPNG(t, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	events, cancel := ta.env.Jobs.River().Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	defer cancel()
	for _, photo := range []string{"hotels/1/photo", fmt.Sprintf("../tenant_%d/hotels/1/photo", globex.ID)} {
		err := pgx.BeginFunc(t.Context(), ta.env.Pool, func(tx pgx.Tx) error {
			_, err := ta.env.Jobs.InsertForTenantTx(t.Context(), tx, acme, thumbs.Args{Photo: photo, Thumb: "hotels/1/thumb"}, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCancelled {
				t.Errorf("%s: job %s (%v), want cancelled", photo, ev.Kind, ev.Job.Errors)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the job did not end within 30 s", photo)
		}
	}
	actx := condo.WithTenant(context.Background(), acme)
	for _, c := range []struct {
		ctx context.Context
		key string
	}{{actx, "hotels/1/thumb"}, {gctx, "hotels/1/thumb"}} {
		if _, err := ta.env.Files.Stat(c.ctx, c.key); !errors.Is(err, condofiles.ErrNotFound) {
			t.Errorf("%s: got %v, want not found: nothing written", c.key, err)
		}
	}
	if _, err := ta.env.Files.Stat(gctx, "hotels/1/photo"); err != nil {
		t.Errorf("globex's photo: %v", err)
	}
}
