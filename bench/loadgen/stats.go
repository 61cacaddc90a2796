package main

import (
	"bytes"
	"math"
	"slices"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted,
// an ascending slice; 0 for an empty slice.
func percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n) - 1e-9)) // epsilon: 99.9/100*1000 is 999.0000000000001
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// summarize sorts lat (nanoseconds) in place and returns its summary in milliseconds.
func summarize(lat []int64) latencySummary {
	if len(lat) == 0 {
		return latencySummary{}
	}
	slices.Sort(lat)
	var sum float64
	for _, x := range lat {
		sum += float64(x)
	}
	ms := func(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 } // µs precision
	return latencySummary{
		P50:  ms(percentile(lat, 50)),
		P90:  ms(percentile(lat, 90)),
		P99:  ms(percentile(lat, 99)),
		P999: ms(percentile(lat, 99.9)),
		Max:  ms(lat[len(lat)-1]),
		Mean: math.Round(sum/float64(len(lat))/1e3) / 1e3,
	}
}

var acceptedKey = []byte(`"accepted"`)

// scanAccepted finds the integer value of the "accepted" key in a JSON body
// without decoding it. The batch answer also holds "status":"accepted" strings in
// its results; only an occurrence followed by ':' is the key.
func scanAccepted(body []byte) (int64, bool) {
	for {
		i := bytes.Index(body, acceptedKey)
		if i < 0 {
			return 0, false
		}
		body = body[i+len(acceptedKey):]
		j := skipSpace(body, 0)
		if j >= len(body) || body[j] != ':' {
			continue
		}
		j = skipSpace(body, j+1)
		var n int64
		start := j
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			n = n*10 + int64(body[j]-'0')
			j++
		}
		if j == start {
			return 0, false
		}
		return n, true
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
