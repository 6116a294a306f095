package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A member of acme uploads a hotel photo and sees it on the hotel's page;
// its URL opens nothing on globex's host (where a hotel of the same id
// exists too), nor with the key changed, nor once the hotel is deleted.
func testBrowserPhoto(t *testing.T) {
	ta := newTestApp(t, nil)
	acme := ta.tenant("acme", "ann@acme.example", "Acme Lodge")
	ta.tenant("globex", "gus@globex.example", "Globex Tower")
	id := ta.hotelID(acme, "Acme Lodge")
	photo := filepath.Join(t.TempDir(), "lodge.png")
	if err := os.WriteFile(photo, testPNG(t, 64, 48), 0o600); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, ta)
	ann, visitor := b.user("ann"), b.user("visitor")
	ann.open(ta.url("acme", fmt.Sprintf("/hotels/%d", id)))
	ann.fill("#f-email", "ann@acme.example", "#f-password", testPassword)
	ann.click(`main form button[type=submit]`)
	ann.expect("hotel-without-photo", "Acme Lodge", "No photo yet.")

	if err := chromedp.Do(ann.ctx, chromedp.SetUploadFiles(chromedp.CSS("#f-photo"), []string{photo})); err != nil {
		t.Fatal(err)
	}
	if st := ann.click("#photo-submit"); st != 200 {
		t.Fatalf("upload: status %d", st)
	}
	ann.expect("hotel-with-photo", "Photo uploaded.", "Replace the photo")
	// The image decoded in the page: served, with its type, on acme's host.
	width, err := chromedp.Run(ann.ctx, chromedp.Evaluate[int](
		`(async () => { const i = document.getElementById("hotel-photo"); await i.decode(); return i.naturalWidth })()`,
		chromedp.EvalAwaitPromise))
	if err != nil || width != 64 {
		t.Fatalf("the photo in the page: width %d, %v; want 64", width, err)
	}
	src, err := chromedp.Run(ann.ctx, chromedp.AttributeValue(chromedp.CSS("#hotel-photo"), "src"))
	if err != nil || !strings.HasPrefix(src.Value, fmt.Sprintf("/files/hotels/%d/photo?", id)) {
		t.Fatalf("photo src: %q, %v", src.Value, err)
	}

	// The signed URL is the permission on acme's host, for anyone.
	if st := visitor.open(ta.url("acme", src.Value)); st != 200 {
		t.Fatalf("the signed URL on acme's host: status %d, want 200", st)
	}
	// Not on globex's host, where hotel %d is globex's own.
	if st := visitor.open(ta.url("globex", src.Value)); st != 404 {
		t.Errorf("acme's photo URL on globex's host: status %d, want 404", st)
	}
	// Nor with the key forged: another hotel, or a path out of the
	// tenant's files (encoded, as a browser would otherwise clean it).
	for _, forged := range []string{
		strings.Replace(src.Value, fmt.Sprintf("hotels/%d/", id), fmt.Sprintf("hotels/%d/", id+1), 1),
		strings.Replace(src.Value, "/files/hotels/", "/files/..%2F..%2Ftenant_1%2Fhotels/", 1),
		strings.Replace(src.Value, "photo?", "photo%00?", 1),
	} {
		if st := visitor.open(ta.url("acme", forged)); st != 404 {
			t.Errorf("forged %s: status %d, want 404", forged, st)
		}
	}

	// Deleting the hotel deletes its photo (asked without the browser,
	// which may keep the image until the URL expires: it says so).
	ann.click(`a[href$="/delete"]`)
	ann.click(`button.danger`)
	ann.expect("deleted", `Deleted hotel "Acme Lodge"`)
	if p := ta.client().get(ta.url("acme", src.Value)); p.Status != 404 {
		t.Errorf("the photo of a deleted hotel: status %d, want 404", p.Status)
	}
	ta.noErrors()
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: 120, B: uint8(y * 5), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
