package thumbs

import (
	"image"
	"testing"
)

// TestScale: at most Width wide, proportions kept, never enlarged.
func TestScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		w, h         int
		wantW, wantH int
	}{
		{"landscape", 640, 480, 320, 240},
		{"portrait", 480, 960, 320, 640},
		{"narrow", 100, 50, 100, 50},
		{"a line", 3200, 1, 320, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Scale(image.NewRGBA(image.Rect(0, 0, tc.w, tc.h)), Width).Bounds()
			if got.Dx() != tc.wantW || got.Dy() != tc.wantH {
				t.Errorf("%d×%d: got %d×%d, want %d×%d", tc.w, tc.h, got.Dx(), got.Dy(), tc.wantW, tc.wantH)
			}
		})
	}
}
