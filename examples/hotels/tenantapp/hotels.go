package tenantapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

// Hotel is a row of the tenant's hotel table.
type Hotel struct {
	ID        int64
	Name      string
	City      string
	Stars     int
	Rooms     int64
	CreatedAt time.Time
}

// Room is a row of the tenant's room table.
type Room struct {
	ID      int64
	HotelID int64
	Number  string
	Beds    int
	Price   string
}

// Field limits, as in the tenant migration.
const (
	maxName   = 100
	maxCity   = 100
	maxNumber = 10
	maxSearch = 100
)

type listData struct {
	Hotels      []Hotel
	Q           string
	Page, Pages int
	Total       int64
}

func (h *Handler) listHotels(p *page) {
	q := strings.TrimSpace(p.r.URL.Query().Get("q"))
	if len([]rune(q)) > maxSearch {
		q = string([]rune(q)[:maxSearch])
	}
	pageNo, err := strconv.Atoi(p.r.URL.Query().Get("page"))
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	d := listData{Q: q, Page: pageNo}
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
	err = h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		const where = ` WHERE ($1 = '' OR h.name ILIKE $2 OR h.city ILIKE $2)`
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM hotel h"+where, q, pattern).Scan(&d.Total); err != nil {
			return err
		}
		d.Pages = max(1, int((d.Total+int64(h.pageSize)-1)/int64(h.pageSize)))
		d.Page = min(d.Page, d.Pages)
		rows, err := tx.Query(ctx, `SELECT h.id, h.name, h.city, h.stars, h.created_at,
				(SELECT count(*) FROM room r WHERE r.hotel_id = h.id)
			FROM hotel h`+where+` ORDER BY lower(h.name), h.id LIMIT $3 OFFSET $4`,
			q, pattern, h.pageSize, (d.Page-1)*h.pageSize)
		if err != nil {
			return err
		}
		d.Hotels, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hotel, error) {
			var ho Hotel
			err := row.Scan(&ho.ID, &ho.Name, &ho.City, &ho.Stars, &ho.CreatedAt, &ho.Rooms)
			return ho, err
		})
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Render(p.w, p.r, http.StatusOK, "hotels", "Hotels", "hotels", d)
}

type hotelForm struct {
	Form   *ui.Form
	Hotel  *Hotel // nil when new
	Action string
}

func (h *Handler) newHotel(p *page) {
	f := ui.NewForm(nil)
	f.Set("stars", "3")
	h.site.Render(p.w, p.r, http.StatusOK, "hotel_form", "New hotel", "hotels", hotelForm{Form: f, Action: "/hotels/new"})
}

// checkHotel validates the hotel form and returns its stars.
func checkHotel(f *ui.Form) int {
	f.Required("name", "city", "stars")
	f.MaxLen("name", maxName)
	f.MaxLen("city", maxCity)
	checkText(f, "name", "city")
	stars, err := strconv.Atoi(f.Get("stars"))
	if f.Get("stars") != "" && (err != nil || stars < 1 || stars > 5) {
		f.Fail("stars", "Choose from 1 to 5 stars.")
	}
	return stars
}

// checkText refuses control characters, which the database would take
// but no person means to type.
func checkText(f *ui.Form, names ...string) {
	for _, n := range names {
		for _, r := range f.Get(n) {
			if r < 0x20 || r == 0x7f || r == 0xfffd {
				f.Fail(n, "Remove the control characters from this field.")
				break
			}
		}
	}
}

func (h *Handler) createHotel(p *page) {
	f := ui.NewForm(p.r.PostForm)
	stars := checkHotel(f)
	if !f.Valid() {
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "hotel_form", "New hotel", "hotels", hotelForm{Form: f, Action: "/hotels/new"})
		return
	}
	var id int64
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, $2, $3) RETURNING id",
			f.Get("name"), f.Get("city"), stars).Scan(&id)
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Redirect(p.w, p.r, fmt.Sprintf("/hotels/%d", id), fmt.Sprintf("Added hotel %q.", f.Get("name")))
}

// loadHotel reads hotel id, or answers 404 and returns nil.
func (h *Handler) loadHotel(p *page) *Hotel {
	id, ok := p.pathID(h, "id", "hotel")
	if !ok {
		return nil
	}
	var ho *Hotel
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		x := &Hotel{ID: id}
		err := tx.QueryRow(ctx, `SELECT name, city, stars, created_at, (SELECT count(*) FROM room WHERE hotel_id = $1)
			FROM hotel WHERE id = $1`, id).Scan(&x.Name, &x.City, &x.Stars, &x.CreatedAt, &x.Rooms)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		ho = x
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return nil
	}
	if ho == nil {
		p.notFound(h, "hotel", strconv.FormatInt(id, 10))
	}
	return ho
}

type hotelData struct {
	Hotel *Hotel
	Rooms []Room
	// Photos: photo uploads are on; PhotoURL: the hotel's photo, if any;
	// ThumbURL: its thumbnail, once the job has made it.
	Photos             bool
	PhotoURL, ThumbURL string
}

func (h *Handler) showHotel(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	var rooms []Room
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, number, beds, price::text FROM room WHERE hotel_id = $1
			ORDER BY length(number), number`, ho.ID)
		if err != nil {
			return err
		}
		rooms, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Room, error) {
			rm := Room{HotelID: ho.ID}
			err := row.Scan(&rm.ID, &rm.Number, &rm.Beds, &rm.Price)
			return rm, err
		})
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	photo, err := h.photoURL(p, ho.ID)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	thumb := ""
	if photo != "" {
		if thumb, err = h.fileURL(p, thumbKey(ho.ID)); err != nil {
			h.site.Internal(p.w, p.r, err)
			return
		}
	}
	h.site.Render(p.w, p.r, http.StatusOK, "hotel", ho.Name, "hotels", hotelData{Hotel: ho, Rooms: rooms, Photos: h.files != nil, PhotoURL: photo, ThumbURL: thumb})
}

func (h *Handler) editHotel(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	f := ui.NewForm(nil)
	f.Set("name", ho.Name)
	f.Set("city", ho.City)
	f.Set("stars", strconv.Itoa(ho.Stars))
	h.site.Render(p.w, p.r, http.StatusOK, "hotel_form", "Edit "+ho.Name, "hotels", hotelForm{Form: f, Hotel: ho, Action: fmt.Sprintf("/hotels/%d/edit", ho.ID)})
}

func (h *Handler) updateHotel(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	f := ui.NewForm(p.r.PostForm)
	stars := checkHotel(f)
	if !f.Valid() {
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "hotel_form", "Edit "+ho.Name, "hotels",
			hotelForm{Form: f, Hotel: ho, Action: fmt.Sprintf("/hotels/%d/edit", ho.ID)})
		return
	}
	var found bool
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE hotel SET name = $2, city = $3, stars = $4 WHERE id = $1",
			ho.ID, f.Get("name"), f.Get("city"), stars)
		found = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if !found {
		p.notFound(h, "hotel", strconv.FormatInt(ho.ID, 10))
		return
	}
	h.site.Redirect(p.w, p.r, fmt.Sprintf("/hotels/%d", ho.ID), "Saved.")
}

type confirmData struct {
	Question string
	Detail   string
	Action   string
	Cancel   string
}

func (h *Handler) confirmDeleteHotel(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	detail := "This cannot be undone."
	switch {
	case ho.Rooms == 1:
		detail = "Its room will be deleted too. This cannot be undone."
	case ho.Rooms > 1:
		detail = fmt.Sprintf("Its %d rooms will be deleted too. This cannot be undone.", ho.Rooms)
	}
	h.site.Render(p.w, p.r, http.StatusOK, "confirm", "Delete "+ho.Name, "hotels", confirmData{
		Question: fmt.Sprintf("Delete the hotel %q in %s?", ho.Name, ho.City),
		Detail:   detail,
		Action:   fmt.Sprintf("/hotels/%d/delete", ho.ID),
		Cancel:   fmt.Sprintf("/hotels/%d", ho.ID),
	})
}

func (h *Handler) deleteHotel(p *page) {
	id, ok := p.pathID(h, "id", "hotel")
	if !ok {
		return
	}
	var name string
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "DELETE FROM hotel WHERE id = $1 RETURNING name", id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if name == "" {
		p.notFound(h, "hotel", strconv.FormatInt(id, 10))
		return
	}
	if h.files != nil {
		// After the row: a failure here leaves a file no page shows
		// (and the next hotel has another id), never a hotel without
		// its photo.
		for _, key := range []string{photoKey(id), thumbKey(id)} {
			if err := h.files.Delete(p.r.Context(), key); err != nil && !errors.Is(err, condofiles.ErrNotFound) {
				h.site.Internal(p.w, p.r, err)
				return
			}
		}
	}
	h.site.Redirect(p.w, p.r, "/", fmt.Sprintf("Deleted hotel %q.", name))
}

// Rooms.

// validPrice reports whether s is a price of up to six digits with up to
// two decimals: numeric(8,2).
func validPrice(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(x string, lo, hi int) bool {
		if len(x) < lo || len(x) > hi {
			return false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return false
			}
		}
		return true
	}
	return digits(whole, 1, 6) && (!dot || digits(frac, 1, 2))
}

// checkRoom validates the room form and returns beds and the price as a
// decimal string.
func checkRoom(f *ui.Form) (int, string) {
	f.Required("number", "beds", "price")
	f.MaxLen("number", maxNumber)
	checkText(f, "number")
	beds, err := strconv.Atoi(f.Get("beds"))
	if f.Get("beds") != "" && (err != nil || beds < 1 || beds > 20) {
		f.Fail("beds", "Enter from 1 to 20 beds.")
	}
	price := strings.Replace(f.Get("price"), ",", ".", 1)
	if f.Get("price") != "" && !validPrice(price) {
		f.Fail("price", "Enter a price like 120 or 89.50 (at most 999999.99).")
	}
	return beds, price
}

type roomForm struct {
	Form   *ui.Form
	Hotel  *Hotel
	Room   *Room
	Action string
}

func (h *Handler) newRoom(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	f := ui.NewForm(nil)
	f.Set("beds", "2")
	h.site.Render(p.w, p.r, http.StatusOK, "room_form", "New room in "+ho.Name, "hotels",
		roomForm{Form: f, Hotel: ho, Action: fmt.Sprintf("/hotels/%d/rooms/new", ho.ID)})
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgerrcode.UniqueViolation
}

func (h *Handler) createRoom(p *page) {
	ho := h.loadHotel(p)
	if ho == nil {
		return
	}
	f := ui.NewForm(p.r.PostForm)
	beds, price := checkRoom(f)
	rf := roomForm{Form: f, Hotel: ho, Action: fmt.Sprintf("/hotels/%d/rooms/new", ho.ID)}
	if !f.Valid() {
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "room_form", "New room in "+ho.Name, "hotels", rf)
		return
	}
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO room (hotel_id, number, beds, price) VALUES ($1, $2, $3, $4::numeric)",
			ho.ID, f.Get("number"), beds, price)
		return err
	})
	if isUnique(err) {
		f.Fail("number", fmt.Sprintf("Room %s already exists in this hotel.", f.Get("number")))
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "room_form", "New room in "+ho.Name, "hotels", rf)
		return
	}
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Redirect(p.w, p.r, fmt.Sprintf("/hotels/%d", ho.ID), fmt.Sprintf("Added room %s.", f.Get("number")))
}

// loadRoom reads the hotel and room of the path, or answers 404.
func (h *Handler) loadRoom(p *page) (*Hotel, *Room) {
	ho := h.loadHotel(p)
	if ho == nil {
		return nil, nil
	}
	id, ok := p.pathID(h, "room", "room")
	if !ok {
		return nil, nil
	}
	var rm *Room
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		x := &Room{ID: id, HotelID: ho.ID}
		err := tx.QueryRow(ctx, "SELECT number, beds, price::text FROM room WHERE id = $1 AND hotel_id = $2", id, ho.ID).
			Scan(&x.Number, &x.Beds, &x.Price)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		rm = x
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return nil, nil
	}
	if rm == nil {
		p.notFound(h, "room", strconv.FormatInt(id, 10))
		return nil, nil
	}
	return ho, rm
}

func (h *Handler) editRoom(p *page) {
	ho, rm := h.loadRoom(p)
	if rm == nil {
		return
	}
	f := ui.NewForm(nil)
	f.Set("number", rm.Number)
	f.Set("beds", strconv.Itoa(rm.Beds))
	f.Set("price", rm.Price)
	h.site.Render(p.w, p.r, http.StatusOK, "room_form", "Edit room "+rm.Number, "hotels",
		roomForm{Form: f, Hotel: ho, Room: rm, Action: fmt.Sprintf("/hotels/%d/rooms/%d/edit", ho.ID, rm.ID)})
}

func (h *Handler) updateRoom(p *page) {
	ho, rm := h.loadRoom(p)
	if rm == nil {
		return
	}
	f := ui.NewForm(p.r.PostForm)
	beds, price := checkRoom(f)
	rf := roomForm{Form: f, Hotel: ho, Room: rm, Action: fmt.Sprintf("/hotels/%d/rooms/%d/edit", ho.ID, rm.ID)}
	if !f.Valid() {
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "room_form", "Edit room "+rm.Number, "hotels", rf)
		return
	}
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE room SET number = $3, beds = $4, price = $5::numeric WHERE id = $1 AND hotel_id = $2",
			rm.ID, ho.ID, f.Get("number"), beds, price)
		return err
	})
	if isUnique(err) {
		f.Fail("number", fmt.Sprintf("Room %s already exists in this hotel.", f.Get("number")))
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "room_form", "Edit room "+rm.Number, "hotels", rf)
		return
	}
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Redirect(p.w, p.r, fmt.Sprintf("/hotels/%d", ho.ID), "Saved.")
}

func (h *Handler) confirmDeleteRoom(p *page) {
	ho, rm := h.loadRoom(p)
	if rm == nil {
		return
	}
	h.site.Render(p.w, p.r, http.StatusOK, "confirm", "Delete room "+rm.Number, "hotels", confirmData{
		Question: fmt.Sprintf("Delete room %s of %s?", rm.Number, ho.Name),
		Detail:   "This cannot be undone.",
		Action:   fmt.Sprintf("/hotels/%d/rooms/%d/delete", ho.ID, rm.ID),
		Cancel:   fmt.Sprintf("/hotels/%d", ho.ID),
	})
}

func (h *Handler) deleteRoom(p *page) {
	ho, rm := h.loadRoom(p)
	if rm == nil {
		return
	}
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM room WHERE id = $1 AND hotel_id = $2", rm.ID, ho.ID)
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Redirect(p.w, p.r, fmt.Sprintf("/hotels/%d", ho.ID), fmt.Sprintf("Deleted room %s.", rm.Number))
}
