package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testGen(t *testing.T, n int) ([]*battery, *payloadGen) {
	t.Helper()
	bats := make([]*battery, n)
	for k := range bats {
		bats[k] = &battery{id: string(rune('1'+k)) + "01"}
	}
	start := time.Date(2026, 1, 2, 0, 0, 30, 0, time.UTC)
	return bats, newPayloadGen(bats, 7, 64, start, 0.3, 0.1)
}

type reading struct {
	ID  string  `json:"id"`
	SOC string  `json:"soc"`
	V   float64 `json:"v"`
	Err string  `json:"err"`
	D   string  `json:"d"`
	Tm  string  `json:"tm"`
	Gd  string  `json:"gd"`
	Gt  string  `json:"gt"`
}

func TestSingleReadingsAreValidJSONWithUniqueDeviceTimes(t *testing.T) {
	bats, g := testGen(t, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	errs := 0
	for k := range 3000 {
		b := bats[k%len(bats)]
		body := g.appendSingle(nil, b, rng)
		if !json.Valid(body) {
			t.Fatalf("invalid JSON: %s", body)
		}
		var r reading
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != b.id || r.SOC == "" || r.V < 10 || r.V > 15 {
			t.Fatalf("unexpected reading %s", body)
		}
		if _, err := time.Parse("2006-01-02 15:04:05", r.D+" "+r.Tm); err != nil || r.Gd != r.D || r.Gt != r.Tm {
			t.Fatalf("bad device time in %s", body)
		}
		key := r.ID + " " + r.D + " " + r.Tm
		if seen[key] {
			t.Fatalf("duplicate battery+device time %s", key)
		}
		seen[key] = true
		if r.Err != "" {
			errs++
			if len(r.Err) > 2 || strings.Trim(r.Err, knownCodes+unknownCodes) != "" {
				t.Fatalf("bad err %q", r.Err)
			}
		}
	}
	if errs < 900 || errs > 1500 { // 40 % expected
		t.Fatalf("%d of 3000 readings carry err, want about 1200", errs)
	}
	// Reading 0 is the start time; readings go back one second each, across midnight.
	if !seen["101 2026-01-02 00:00:30"] || !seen["101 2026-01-01 23:59:59"] {
		t.Fatal("device times do not count back from the start time")
	}
}

func TestBatchIsOneBatteryWithUniqueDeviceTimes(t *testing.T) {
	bats, g := testGen(t, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]bool{}
	for range 5 {
		body := g.appendBatch(nil, bats[1], 100, rng)
		if !json.Valid(body) {
			t.Fatalf("invalid JSON: %.200s", body)
		}
		var rs []reading
		if err := json.Unmarshal(body, &rs); err != nil {
			t.Fatal(err)
		}
		if len(rs) != 100 {
			t.Fatalf("batch of %d readings", len(rs))
		}
		for _, r := range rs {
			if r.ID != bats[1].id {
				t.Fatalf("reading of battery %s in batch of %s", r.ID, bats[1].id)
			}
			if seen[r.D+r.Tm] {
				t.Fatalf("duplicate device time %s %s", r.D, r.Tm)
			}
			seen[r.D+r.Tm] = true
		}
	}
}

func TestPercentile(t *testing.T) {
	var xs []int64
	for k := int64(1); k <= 1000; k++ {
		xs = append(xs, k)
	}
	cases := map[float64]int64{50: 500, 90: 900, 99: 990, 99.9: 999, 100: 1000, 0.01: 1}
	for p, want := range cases {
		if got := percentile(xs, p); got != want {
			t.Errorf("percentile(1..1000, %v) = %d, want %d", p, got, want)
		}
	}
	if got := percentile([]int64{7}, 99.9); got != 7 {
		t.Errorf("single sample: %d", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %d", got)
	}
	s := summarize([]int64{4e6, 1e6, 3e6, 2e6})
	if s.P50 != 2 || s.Max != 4 || s.Mean != 2.5 {
		t.Errorf("summarize: %+v", s)
	}
}

func TestScanAccepted(t *testing.T) {
	body := []byte(`{"status":"partial","accepted" : 98,"rejected":2,"results":[{"index":0,"status":"accepted"}]}`)
	if n, ok := scanAccepted(body); !ok || n != 98 {
		t.Fatalf("got %d %v", n, ok)
	}
	body = []byte(`{"results":[{"status":"accepted"}],"accepted":3}`)
	if n, ok := scanAccepted(body); !ok || n != 3 {
		t.Fatalf("got %d %v", n, ok)
	}
	if _, ok := scanAccepted([]byte(`{"detail":"nope"}`)); ok {
		t.Fatal("found accepted in an error body")
	}
}

func TestRetryAfter(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"7":                             7 * time.Second,
		" 3 ":                           3 * time.Second,
		"0":                             0,
		"":                              0,
		"-2":                            0,
		"Wed, 21 Oct 2026 07:28:00 GMT": 0,
	} {
		if got := retryAfter(header); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", header, got, want)
		}
	}
}

// An open-loop run counts every slot due in its window, the answers still on their way
// when it closes included; a slot due in the warm-up does not count, answered in the
// window or not.
func TestOpenLoopCountsEverySlotDueInTheWindow(t *testing.T) {
	var served atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(40 * time.Millisecond) // every slot's answer comes after the next slot
		w.WriteHeader(http.StatusOK)
	}))
	defer server.Close()
	bats, _ := testGen(t, 2)
	for _, warmup := range []time.Duration{0, 100 * time.Millisecond} {
		c := config{url: server.URL, mode: "single", connections: 8, duration: 500 * time.Millisecond,
			warmup: warmup, rate: 50, seed: 1}
		targets, err := buildTargets(c, bats)
		if err != nil {
			t.Fatal(err)
		}
		served.Store(0)
		res := execute(c, bats, targets, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
		// slots every 20 ms: 25 in the 500 ms window, 5 more in a 100 ms warm-up
		wantServed := int64(25 + warmup/(20*time.Millisecond))
		if res.Requests != 25 || res.OK != 25 || res.ReadingsOK != 25 || served.Load() != wantServed {
			t.Errorf("warm-up %v: counted %d requests (%d ok, %d readings), served %d; want 25 of %d",
				warmup, res.Requests, res.OK, res.ReadingsOK, served.Load(), wantServed)
		}
		if res.LatencyMs.P50 < 40 {
			t.Errorf("warm-up %v: p50 %.1f ms, under the server's 40 ms", warmup, res.LatencyMs.P50)
		}
	}
}

// An open-loop slot due in the window is sent even when every worker is still busy as the
// window closes: it counts as late, and the run says how long after the window its last
// answer came (how far the server had fallen behind the schedule).
func TestOpenLoopSendsTheSlotsDueWhileEveryWorkerWasBusy(t *testing.T) {
	var served atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(30 * time.Millisecond) // one connection, a slot every 20 ms: it falls behind
		w.WriteHeader(http.StatusOK)
	}))
	defer server.Close()
	bats, _ := testGen(t, 2)
	c := config{url: server.URL, mode: "single", connections: 1, duration: 300 * time.Millisecond,
		rate: 50, seed: 1}
	targets, err := buildTargets(c, bats)
	if err != nil {
		t.Fatal(err)
	}
	res := execute(c, bats, targets, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	// 15 slots due in the window, answered one after another in at least 15 × 30 ms
	if res.Requests != 15 || res.OK != 15 || served.Load() != 15 {
		t.Errorf("counted %d requests (%d ok), served %d; want all 15 slots due", res.Requests, res.OK, served.Load())
	}
	if res.Late == 0 {
		t.Errorf("no request counted late, though the server answered slower than the schedule")
	}
	if res.AnsweredAfterS < 0.15 {
		t.Errorf("last answer %.3f s after the window, want ≥ 0.15 s (15 answers of 30 ms in a 0.3 s window)", res.AnsweredAfterS)
	}
}
