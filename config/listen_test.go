package config

import (
	"strings"
	"testing"
)

func TestOpsListen(t *testing.T) {
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.OpsAddr() != DefaultOpsListen {
		t.Fatalf("absent ops_listen = %q", c.OpsAddr())
	}
	c, err = Load(write(t, good+"ops_listen: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OpsAddr() != "" {
		t.Fatalf(`ops_listen "" = %q, want disabled`, c.OpsAddr())
	}
	c, err = Load(write(t, good+"ops_listen: 10.0.0.1:9100\nroles: [tsa, repository]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OpsAddr() != "10.0.0.1:9100" || strings.Join(c.Roles, ",") != "tsa,repository" {
		t.Fatalf("ops %q roles %v", c.OpsAddr(), c.Roles)
	}
	if (&Config{}).OpsAddr() != DefaultOpsListen {
		t.Fatal("zero Config has no default ops address")
	}
	for body, want := range map[string]string{
		good + "ops_listen: nowhere\n":        "ops_listen",
		good + "ops_listen: 127.0.0.1:9000\n": "its own",
		good + "roles: [\"\"]\n":              "roles[0]",
	} {
		if _, err := Load(write(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", body, err, want)
		}
	}
}
