package tenantapp

import "testing"

func TestValidPrice(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"0": true, "120": true, "89.5": true, "89.50": true, "999999.99": true,
		"": false, ".5": false, "1.": false, "1.234": false, "1000000": false,
		"-1": false, "1e3": false, "12,50": false, " 12": false, "0x10": false,
	} {
		if got := validPrice(in); got != want {
			t.Errorf("validPrice(%q) = %v, want %v", in, got, want)
		}
	}
}
