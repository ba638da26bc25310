package config

import (
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestPlan(t *testing.T) {
	c, err := LoadFile("testdata/valid-several-checks.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		module  string
		want    prober.Plan
		several bool
	}{
		{"tcp_loss", prober.Plan{SYNCount: 10, SYNInterval: 20 * time.Millisecond, AddressLimit: 16, MinOpenRatio: 0.7}, true},
		{"tcp_burst", prober.Plan{SYNCount: 100, AddressLimit: 16}, true},
		{"tcp_all_addresses", prober.Plan{SYNCount: 1, SYNInterval: 10 * time.Millisecond, AllAddresses: true, AddressLimit: 4, MinOpenRatio: 1}, true},
		{"tcp_must_be_filtered", prober.Plan{SYNCount: 1, SYNInterval: 10 * time.Millisecond, AddressLimit: 16, Expect: prober.ExpectTimeout}, false},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			m, _ := c.Module(tt.module)
			if got := m.Plan(); got != tt.want {
				t.Errorf("Plan() = %+v, want %+v", got, tt.want)
			}
			if got := m.SeveralChecks(); got != tt.several {
				t.Errorf("SeveralChecks() = %v, want %v", got, tt.several)
			}
		})
	}
	if p := NewModule().Plan(); p.SYNCount != 1 || p.AllAddresses || p.Expect != prober.ExpectOpen || NewModule().SeveralChecks() {
		t.Errorf("default module: %+v", p)
	}
}
