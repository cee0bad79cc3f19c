package jsonnum

import (
	"encoding/json"
	"math"
	"testing"
)

// Append must write finite numbers exactly as encoding/json does.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.5, 1.0 / 3, 1e-6, 9.99e-7, 1e-7, 1.5e-9, 123456789, 1e20, 1e21, -2.5e-30, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1 + 0.2} {
		want, _ := json.Marshal(v)
		if got := string(Append(nil, v)); got != string(want) {
			t.Errorf("%v: got %s, encoding/json writes %s", v, got, want)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(Append(nil, v)); got != "null" {
			t.Errorf("%v: got %s, want null", v, got)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	type rec struct {
		A Float  `json:"a"`
		B Floats `json:"b"`
		C Floats `json:"c"`
	}
	in := rec{A: NaN, B: Floats{0.25, math.NaN(), math.Inf(-1), 3}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"a":null,"b":[0.25,null,null,3],"c":null}` {
		t.Fatalf("got %s", b)
	}
	var out rec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(out.A)) || out.C != nil || len(out.B) != 4 || out.B[0] != 0.25 || !math.IsNaN(out.B[1]) || !math.IsNaN(out.B[2]) || out.B[3] != 3 {
		t.Fatalf("read back %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"a":"x"}`), &out); err == nil {
		t.Fatal(`"x" read as a number`)
	}
	if err := json.Unmarshal([]byte(`{"b":[1,"x"]}`), &out); err == nil {
		t.Fatal(`["x"] read as numbers`)
	}
}
