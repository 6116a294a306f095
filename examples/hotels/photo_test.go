package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestPhotoUploadRefused: the upload form's refusals, each with its page
// and nothing stored: no CSRF token, not an image (a page named .png),
// over the limit, no file.
func TestPhotoUploadRefused(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	acme := ta.tenant("acme", "ann@acme.example", "Acme Lodge")
	id := ta.hotelID(acme, "Acme Lodge")
	c := ta.client()
	want(t, c.login("acme", "ann@acme.example", testPassword), 200)
	hotel := ta.url("acme", fmt.Sprintf("/hotels/%d", id))
	m := regexp.MustCompile(`(?s)action="(/hotels/\d+/photo)" enctype="multipart/form-data"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"`).FindStringSubmatch(c.get(hotel).Body)
	if m == nil {
		t.Fatal("no photo form, with its CSRF token first, on the hotel page")
	}
	action, token := ta.url("acme", m[1]), html.UnescapeString(m[2])
	if strings.Contains(m[0], "csrf=") {
		t.Errorf("the token is in the form's URL: %s", m[0])
	}
	upload := func(u, field string, body io.Reader) *page {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if u == action {
			mw.WriteField("csrf", token)
		}
		fw, _ := mw.CreateFormFile(field, "lodge.png")
		io.Copy(fw, body)
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, u, &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return c.do(req)
	}
	page := bytes.NewReader([]byte("<html><script>alert(1)</script></html>"))
	want(t, upload(ta.url("acme", fmt.Sprintf("/hotels/%d/photo?x", id)), "photo", bytes.NewReader(testPNG(t, 4, 4))), 403, "Form expired")
	// The token in the URL, as an older form sent it, is not accepted.
	want(t, upload(ta.url("acme", fmt.Sprintf("/hotels/%d/photo?csrf=%s", id, url.QueryEscape(token))), "photo", bytes.NewReader(testPNG(t, 4, 4))), 403, "Form expired")
	want(t, upload(action, "photo", page), 422, "not a photo")
	want(t, upload(action, "photo", io.MultiReader(bytes.NewReader(testPNG(t, 4, 4)), bytes.NewReader(make([]byte, 6<<20)))), 413, "larger than 5 MB")
	want(t, upload(action, "other", bytes.NewReader(testPNG(t, 4, 4))), 422, "Choose a photo")
	if p := c.get(hotel); !p.Has("No photo yet.") {
		t.Errorf("after refused uploads the hotel page shows a photo")
	}
	want(t, upload(action, "photo", bytes.NewReader(testPNG(t, 4, 4))), 200, "Photo uploaded.")

	// The platform admin sees the tenant's file usage.
	ta.createAdmin("ops@example.com")
	ops := ta.client()
	want(t, ops.login("admin", "ops@example.com", testPassword), 200)
	want(t, ops.get(ta.url("admin", "/tenants/acme")), 200, "Files", "1 (")
	ta.noErrors()
}
