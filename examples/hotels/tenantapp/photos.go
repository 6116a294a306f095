package tenantapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/thumbs"
)

// maxPhoto is the largest hotel photo accepted.
const maxPhoto = 5 << 20

// photoTypes are the photo formats accepted, sniffed from the bytes (a
// page renamed .jpg is still a page).
var photoTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// photoKey is where a hotel's photo is stored, among the tenant's files:
// hotel ids are per tenant, and so are the files.
func photoKey(hotelID int64) string {
	return "hotels/" + strconv.FormatInt(hotelID, 10) + "/photo"
}

// thumbKey is where the photo's thumbnail is made (package thumbs).
func thumbKey(hotelID int64) string {
	return "hotels/" + strconv.FormatInt(hotelID, 10) + "/thumb"
}

// photoURL returns a short-lived URL of the hotel's photo on this
// tenant's host, or "" when it has none.
func (h *Handler) photoURL(p *page, hotelID int64) (string, error) {
	return h.fileURL(p, photoKey(hotelID))
}

// fileURL returns a short-lived URL of the tenant's file key, or "" when
// there is none.
func (h *Handler) fileURL(p *page, key string) (string, error) {
	if h.files == nil {
		return "", nil
	}
	if _, err := h.files.Stat(p.r.Context(), key); errors.Is(err, condofiles.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return h.files.URL(p.r.Context(), key)
}

// enqueueThumbnail drops the old thumbnail and asks a job for a new one,
// in the tenant's transaction: the job runs for this tenant only. Without
// jobs the page shows the photo itself.
func (h *Handler) enqueueThumbnail(ctx context.Context, hotelID int64) error {
	if h.jobs == nil {
		return nil
	}
	if err := h.files.Delete(ctx, thumbKey(hotelID)); err != nil && !errors.Is(err, condofiles.ErrNotFound) {
		return err
	}
	return h.reg.InTenantTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := h.jobs.InsertTx(ctx, tx, thumbs.Args{Photo: photoKey(hotelID), Thumb: thumbKey(hotelID)}, nil)
		return err
	})
}

// uploadPhoto stores the hotel's photo (POST /hotels/{id}/photo,
// multipart, the CSRF token its first field: see package accounts). The file
// part is streamed into the tenant's files, which stop reading at the
// limit.
func (h *Handler) uploadPhoto(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	back := fmt.Sprintf("/hotels/%d", ho.ID)
	refuse := func(status int, msg string) {
		h.site.Error(p.w, p.r, status, "Photo not saved", msg)
	}
	// The session middleware read the form's CSRF token, its first part,
	// and bounds the whole request; the photo is streamed from here.
	mr := accounts.Upload(p.r)
	if mr == nil {
		refuse(http.StatusBadRequest, "The upload could not be read. Choose a photo and try again.")
		return
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			refuse(http.StatusUnprocessableEntity, "Choose a photo to upload.")
			return
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("The photo is larger than %d MB. Choose a smaller one.", maxPhoto>>20))
			return
		}
		if err != nil {
			refuse(http.StatusBadRequest, "The upload could not be read. Choose a photo and try again.")
			return
		}
		if part.FormName() != "photo" || part.FileName() == "" {
			continue
		}
		_, err = h.files.Put(p.r.Context(), photoKey(ho.ID), part, &condofiles.PutOpts{ContentTypes: photoTypes, MaxSize: maxPhoto})
		switch {
		case errors.Is(err, condofiles.ErrTooLarge), errors.As(err, &mbe):
			refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("The photo is larger than %d MB. Choose a smaller one.", maxPhoto>>20))
		case errors.Is(err, condofiles.ErrContentType):
			refuse(http.StatusUnprocessableEntity, "That file is not a photo. Choose a JPEG, PNG, GIF or WebP image.")
		case err != nil:
			h.site.Internal(p.w, p.r, err)
		default:
			if err := h.enqueueThumbnail(p.r.Context(), ho.ID); err != nil {
				h.site.Internal(p.w, p.r, err)
				return
			}
			h.site.Redirect(p.w, p.r, back, "Photo uploaded.")
		}
		return
	}
}
