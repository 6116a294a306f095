package admin

import "testing"

func TestCharts(t *testing.T) {
	t.Parallel()
	c := weeklyChart("w", "t", []string{"1 Jan", "8 Jan", "15 Jan"}, []int64{0, 4, 2})
	if c.Empty || len(c.Bars) != 3 {
		t.Fatalf("weekly: %+v", c)
	}
	// The tallest bar fills the plot; bars are proportional and inside
	// the chart.
	if c.Bars[0].H != 0 || c.Bars[1].H != 2*c.Bars[2].H {
		t.Fatalf("heights %v %v %v: want 0, 2h, h", c.Bars[0].H, c.Bars[1].H, c.Bars[2].H)
	}
	for _, b := range c.Bars {
		if b.X < 0 || b.X+b.W > c.Width || b.Y < 0 || b.Y+b.H > c.Height {
			t.Fatalf("bar %+v outside %vx%v", b, c.Width, c.Height)
		}
	}
	if e := weeklyChart("w", "t", []string{"a"}, []int64{0}); !e.Empty {
		t.Fatal("all-zero weekly chart is not empty")
	}
	r := rankChart("r", "t", []string{"acme", "globex"}, []int64{10, 5})
	if r.Empty || !r.Horizontal || r.Bars[0].W != 2*r.Bars[1].W || r.Bars[0].X+r.Bars[0].W > r.Width {
		t.Fatalf("rank: %+v", r)
	}
	if e := rankChart("r", "t", nil, nil); !e.Empty || e.Height <= 0 {
		t.Fatalf("empty rank chart: %+v", e)
	}
}
