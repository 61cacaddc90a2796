package main

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// battery is one line of the tokens file plus what is pre-built for it.
type battery struct {
	id   string
	auth []string // {"Bearer <token>"} or nil: no Authorization header
	head []byte   // `{"id":"<id>",`
	seg  []byte   // per-battery fields: position, cycle count, lifetime charge
	// next counts the readings generated for this battery; reading n carries the
	// device time start-n seconds, so device times are unique per battery.
	next atomic.Int64
}

const (
	knownCodes   = "RCUTBGSLD"
	unknownCodes = "XYZ"
)

// payloadGen builds reading JSON from pre-generated fragments: the variable tail
// (err and the four date/time fields) is appended per reading with strconv-free
// digit writes, everything else is a copy of pre-built bytes.
type payloadGen struct {
	variants    [][]byte // per-reading measurement fragments, each ending in ','
	start       int64    // unix seconds (UTC) of reading 0 of every battery
	errRate     float64  // fraction of readings with 1-2 known fault codes
	unknownRate float64  // fraction of readings with one unknown code
}

// newPayloadGen pre-generates nVariants measurement fragments and the per-battery
// fragments of bats, deterministically from seed.
func newPayloadGen(bats []*battery, seed uint64, nVariants int, start time.Time, errRate, unknownRate float64) *payloadGen {
	r := rand.New(rand.NewPCG(seed, 0x6261747465727968)) // "batteryh"
	g := &payloadGen{start: start.Unix(), errRate: errRate, unknownRate: unknownRate}
	g.variants = make([][]byte, nVariants)
	for k := range g.variants {
		g.variants[k] = buildVariant(nil, r)
	}
	for _, b := range bats {
		b.head = appendJSONString(append([]byte(nil), `{"id":`...), b.id)
		b.head = append(b.head, ',')
		b.seg = buildBatterySegment(nil, r)
	}
	return g
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

func appendF(dst []byte, x float64, prec int) []byte {
	return strconv.AppendFloat(dst, x, 'f', prec, 64)
}

func appendKV(dst []byte, key string, x float64, prec int) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	dst = appendF(dst, x, prec)
	return append(dst, ',')
}

func appendKI(dst []byte, key string, x int) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	dst = strconv.AppendInt(dst, int64(x), 10)
	return append(dst, ',')
}

func flag01(r *rand.Rand, p float64) int {
	if r.Float64() < p {
		return 1
	}
	return 0
}

// buildVariant appends one plausible set of instantaneous measurements of a 12 V
// solar battery pack: soc (as a numeric string, as some firmware sends it), pack
// voltage/current/power, temperature, charger and USB side, GPS quality, flags.
func buildVariant(dst []byte, r *rand.Rand) []byte {
	soc := uniform(r, 5, 100)
	v := 11.7 + soc/100*1.9 + uniform(r, -0.08, 0.08)
	charging := r.Float64() < 0.4
	usb := r.Float64() < 0.5
	var i, ci, cv, tr float64
	if charging {
		ci = uniform(r, 0.5, 9)
		cv = uniform(r, 13.8, 14.6)
		tr = -1
	} else {
		tr = uniform(r, 0.5, 72)
	}
	var ui, uv float64
	if usb {
		ui = uniform(r, 0.05, 2.1)
		uv = 5.0
	}
	i = ci - ui*uv/v - uniform(r, 0.05, 3)
	t := uniform(r, 8, 42)
	gs := r.IntN(13)
	gf := 0
	if gs >= 4 {
		gf = 1 + r.IntN(2)
	}
	dst = append(dst, `"soc":"`...)
	dst = appendF(dst, soc, 1)
	dst = append(dst, `",`...)
	dst = appendKV(dst, "v", v, 2)
	dst = appendKV(dst, "i", i, 2)
	dst = appendKV(dst, "p", v*i, 1)
	dst = appendKV(dst, "t", t, 1)
	dst = appendKV(dst, "tr", tr, 1)
	dst = appendKV(dst, "cc", (100-soc)*uniform(r, 0.9, 1.1), 1)
	dst = appendKV(dst, "ci", ci, 1)
	dst = appendKV(dst, "cv", cv, 1)
	dst = appendKV(dst, "cp", ci*cv, 1)
	dst = appendKI(dst, "ec", b2i(charging))
	dst = appendKV(dst, "ui", ui, 2)
	dst = appendKV(dst, "uv", uv, 1)
	dst = appendKV(dst, "up", ui*uv, 2)
	dst = appendKI(dst, "eu", b2i(usb))
	dst = appendKI(dst, "gs", gs)
	dst = appendKI(dst, "gf", gf)
	dst = appendKI(dst, "ef", b2i(t > 35))
	dst = appendKI(dst, "ei", flag01(r, 0.3))
	dst = appendKI(dst, "sa", flag01(r, 0.1))
	dst = appendKI(dst, "ts", flag01(r, 0.02))
	return dst
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildBatterySegment appends what stays put for one battery during a run.
func buildBatterySegment(dst []byte, r *rand.Rand) []byte {
	nc := r.IntN(1500)
	dst = appendKV(dst, "lat", uniform(r, 50.0, 58.5), 3)
	dst = appendKV(dst, "lon", uniform(r, -6.0, 1.5), 3)
	dst = appendKI(dst, "alt", r.IntN(400))
	dst = appendKI(dst, "nc", nc)
	dst = appendKV(dst, "tcc", float64(nc)*uniform(r, 30, 90)+uniform(r, 0, 30), 1)
	return dst
}

// appendErr appends the err string of one reading (without quotes).
func (g *payloadGen) appendErr(dst []byte, r *rand.Rand) []byte {
	u := r.Float64()
	switch {
	case u < g.unknownRate:
		return append(dst, unknownCodes[r.IntN(len(unknownCodes))])
	case u < g.unknownRate+g.errRate:
		a := r.IntN(len(knownCodes))
		dst = append(dst, knownCodes[a])
		if r.IntN(3) == 0 { // a third of faulty readings carry two codes
			b := (a + 1 + r.IntN(len(knownCodes)-1)) % len(knownCodes)
			dst = append(dst, knownCodes[b])
		}
		return dst
	}
	return dst
}

// appendReading appends reading number n of battery b: a JSON object.
func (g *payloadGen) appendReading(dst []byte, b *battery, n int64, r *rand.Rand) []byte {
	dst = append(dst, b.head...)
	dst = append(dst, g.variants[r.IntN(len(g.variants))]...)
	dst = append(dst, b.seg...)
	dst = append(dst, `"err":"`...)
	dst = g.appendErr(dst, r)
	day, clock := dateTime(g.start - n)
	dst = append(dst, `","gd":"`...)
	dst = append(dst, day[:]...)
	dst = append(dst, `","gt":"`...)
	dst = append(dst, clock[:]...)
	dst = append(dst, `","d":"`...)
	dst = append(dst, day[:]...)
	dst = append(dst, `","tm":"`...)
	dst = append(dst, clock[:]...)
	return append(dst, `"}`...)
}

// appendSingle appends one reading of b (one POST body in single mode).
func (g *payloadGen) appendSingle(dst []byte, b *battery, r *rand.Rand) []byte {
	return g.appendReading(dst, b, b.next.Add(1)-1, r)
}

// appendBatch appends a JSON array of count readings of b.
func (g *payloadGen) appendBatch(dst []byte, b *battery, count int, r *rand.Rand) []byte {
	first := b.next.Add(int64(count)) - int64(count)
	dst = append(dst, '[')
	for k := range count {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = g.appendReading(dst, b, first+int64(k), r)
	}
	return append(dst, ']')
}

// dateTime formats unix seconds as UTC "YYYY-MM-DD" and "HH:MM:SS".
func dateTime(sec int64) (day [10]byte, clock [8]byte) {
	t := time.Unix(sec, 0).UTC()
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	put2 := func(b []byte, x int) { b[0] = byte('0' + x/10%10); b[1] = byte('0' + x%10) }
	put2(day[0:2], y/100)
	put2(day[2:4], y%100)
	day[4], day[7] = '-', '-'
	put2(day[5:7], int(m))
	put2(day[8:10], d)
	put2(clock[0:2], hh)
	clock[2], clock[5] = ':', ':'
	put2(clock[3:5], mm)
	put2(clock[6:8], ss)
	return day, clock
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
