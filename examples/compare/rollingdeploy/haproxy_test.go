package main

import (
	"strings"
	"testing"
)

// stat is the start of a real "show stat" answer of HAProxy 2.6, cut after
// the status column.
const stat = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,
fe,FRONTEND,,,0,1,4096,3,0,0,0,0,0,,,,,OPEN,
replicas,r1,0,0,0,1,,1,0,0,,0,,0,0,0,0,UP,
replicas,r2,0,0,0,1,,1,0,0,,0,,0,0,0,0,UP 1/2,
replicas,r3,0,0,0,1,,1,0,0,,0,,0,0,0,0,DOWN,
replicas,BACKEND,0,0,0,1,410,3,0,0,0,0,,0,0,0,0,UP,
`

func TestParseStat(t *testing.T) {
	got, err := parseStat(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"r1": "UP", "r2": "UP 1/2", "r3": "DOWN"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for name, state := range want {
		if got[name] != state {
			t.Errorf("%s: got %q, want %q", name, got[name], state)
		}
	}
}

func TestParseStatEmpty(t *testing.T) {
	if _, err := parseStat(strings.NewReader("")); err == nil {
		t.Error("no error for an empty answer")
	}
}
