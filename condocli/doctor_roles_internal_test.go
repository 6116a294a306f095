package condocli

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo"
)

// The tenant-roles verdict at the sizes issue 15 measured, per version:
// a real server would need 100,000 roles to show them.
func TestTenantRolesVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		shares condo.RoleShares
		status checkStatus
		says   []string
	}{
		{"15, flat, small", condo.RoleShares{ServerVersionNum: 150008, Tenants: 2000, MaxSet: 2000, SetRole: "app_runtime"},
			statusOK, []string{"2,000 tenants; at most 2,000 per role that may take them (app_runtime, limit 3,000 on PostgreSQL 15)"}},
		{"15, flat, 42,000", condo.RoleShares{ServerVersionNum: 150008, Tenants: 42000, MaxSet: 42000, SetRole: "app_runtime"},
			statusWarn, []string{"at most 42,000 per role", "first tenant switch", "with N at least 28"}},
		{"15, sharded", condo.RoleShares{ServerVersionNum: 150008, Tenants: 100000, MaxSet: 1563, SetRole: "app_rt_3", Provisioners: 64, RuntimeShards: 64},
			statusOK, []string{"100,000 tenants; at most 1,563 per role"}},
		{"18, flat, 10,000", condo.RoleShares{ServerVersionNum: 180001, Tenants: 10000, MaxSet: 10000, SetRole: "app", MaxAdmin: 10000, AdminRole: "app"},
			statusWarn, []string{"at most 10,000 administered by one role (app, limit 2,000)", "each tenant creation walks all of app's memberships", "with N at least 10"}},
		{"18, sharded", condo.RoleShares{ServerVersionNum: 180001, Tenants: 100000, MaxSet: 3125, SetRole: "rt_0", MaxAdmin: 1563, AdminRole: "app_prov_0"},
			statusOK, []string{"at most 3,125 per role", "at most 1,563 administered by one role (app_prov_0, limit 2,000)"}},
		{"16, runtime over 15's limit", condo.RoleShares{ServerVersionNum: 160004, Tenants: 5000, MaxSet: 5000, SetRole: "rt", MaxAdmin: 100, AdminRole: "p"},
			statusWarn, []string{"limit 3,000 on PostgreSQL 16"}},
		{"no tenants", condo.RoleShares{ServerVersionNum: 180001},
			statusOK, []string{"0 tenants; at most 0 per role that may take them (none", "; 0 reserved"}},
		{"15, reserve", condo.RoleShares{ServerVersionNum: 150008, Tenants: 40000, Reserved: 2000, MaxSet: 42000, SetRole: "app_runtime"},
			statusWarn, []string{"; 2,000 reserved", "with N at least 28"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tenantRolesResult(&tt.shares)
			if got.status != tt.status {
				t.Errorf("status: got %v, want %v (%s)", got.status, tt.status, got.msg)
			}
			for _, s := range tt.says {
				if !strings.Contains(got.msg, s) {
					t.Errorf("got %q, want it to say %q", got.msg, s)
				}
			}
		})
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands: got %q", got)
	}
}

func TestCatalogResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		catalog, buffers int64
		status           checkStatus
		says             []string
	}{
		{"small", 40 << 20, 128 << 20, statusOK, []string{"system catalogs 40.0 MiB, shared_buffers 128.0 MiB"}},
		{"100,000 tenants, default buffers", 4608 << 20, 128 << 20, statusWarn, []string{"system catalogs 4.5 GiB, shared_buffers 128.0 MiB", "raise shared_buffers"}},
		{"100,000 tenants, sized", 4608 << 20, 6 << 30, statusOK, []string{"shared_buffers 6.0 GiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := catalogResult(tt.catalog, tt.buffers)
			if got.status != tt.status {
				t.Errorf("status: got %v, want %v (%s)", got.status, tt.status, got.msg)
			}
			for _, s := range tt.says {
				if !strings.Contains(got.msg, s) {
					t.Errorf("got %q, want it to say %q", got.msg, s)
				}
			}
		})
	}
}
