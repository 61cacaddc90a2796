// Command loadgen is a small HTTP load generator for the battery-hub benchmark:
// batteries posting live-data readings (one per POST or in batches) or clients
// GETting query endpoints, closed-loop or open-loop at a fixed rate.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	requestTimeout = 30 * time.Second
	// lateThreshold: an open-loop request counts as late when it is sent this much
	// after its scheduled time (all workers were busy).
	lateThreshold = 10 * time.Millisecond
	// endGrace: requests in flight when the window closes may finish, and count, for
	// this long (the client's own timeout) before they are cancelled.
	endGrace    = requestTimeout
	maxVariants = 4096
	// errorPause: closed-loop workers wait this long after a transport error.
	errorPause = 10 * time.Millisecond
)

type config struct {
	url         string
	mode        string
	tokens      string
	connections int
	duration    time.Duration
	warmup      time.Duration
	rate        float64
	batch       int
	errorRate   float64
	unknownRate float64
	seed        uint64
	out         string
	start       string
	// honorRetryAfter: after a 429 or 503 with Retry-After, the worker waits that long before
	// its next request, as batteries backing off do (a storm's refused uploads come back later).
	honorRetryAfter bool
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	fs.Usage()
	return 2
}

func run(args []string) int {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "", "target URL; in get mode {id} is replaced by a battery id from -tokens")
	fs.StringVar(&c.mode, "mode", "single", "single | batch | get")
	fs.StringVar(&c.tokens, "tokens", "", "file with one '<battery_id> <bearer token>' per line (token optional)")
	fs.IntVar(&c.connections, "connections", 32, "concurrent workers = keep-alive connections")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured window")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "load before the measured window (not counted)")
	fs.Float64Var(&c.rate, "rate", 0, "target requests/s over all workers; 0 = closed loop, as fast as possible")
	fs.IntVar(&c.batch, "batch", 100, "readings per POST in batch mode")
	fs.Float64Var(&c.errorRate, "error-rate", 0.03, "fraction of readings with 1-2 known fault codes")
	fs.Float64Var(&c.unknownRate, "unknown-rate", 0.005, "fraction of readings with an unknown fault code")
	fs.Uint64Var(&c.seed, "seed", 1, "seed for payload values and choices")
	fs.BoolVar(&c.honorRetryAfter, "honor-retry-after", false, "after a 429 or 503 with Retry-After (seconds), wait that long before the worker's next request")
	fs.StringVar(&c.out, "out", "", "JSON result file (default: stdout)")
	fs.StringVar(&c.start, "start", "", "device time (RFC 3339, UTC) of each battery's first reading; later readings go back 1 s each (default: now-72h)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected arguments: %v", fs.Args())
	}
	switch c.mode {
	case "single", "batch", "get":
	default:
		return usageError(fs, "-mode must be single, batch or get, got %q", c.mode)
	}
	if c.url == "" {
		return usageError(fs, "-url is required")
	}
	if c.connections < 1 || c.duration <= 0 || c.warmup < 0 || c.rate < 0 {
		return usageError(fs, "-connections >= 1, -duration > 0, -warmup >= 0, -rate >= 0 required")
	}
	if c.mode == "batch" && c.batch < 1 {
		return usageError(fs, "-batch must be >= 1")
	}
	if c.errorRate < 0 || c.unknownRate < 0 || c.errorRate+c.unknownRate > 1 {
		return usageError(fs, "-error-rate and -unknown-rate must be >= 0 and sum to <= 1")
	}
	start := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	if c.start != "" {
		t, err := time.Parse(time.RFC3339, c.start)
		if err != nil {
			return usageError(fs, "-start: %v", err)
		}
		start = t
	}
	needTokens := c.mode != "get" || strings.Contains(c.url, "{id}")
	if needTokens && c.tokens == "" {
		return usageError(fs, "-tokens is required (battery ids)")
	}
	var bats []*battery
	if c.tokens != "" {
		var err error
		if bats, err = readTokens(c.tokens); err != nil {
			return usageError(fs, "-tokens: %v", err)
		}
	}
	targets, err := buildTargets(c, bats)
	if err != nil {
		return usageError(fs, "-url: %v", err)
	}

	res := execute(c, bats, targets, start)
	blob, _ := json.MarshalIndent(res, "", "  ")
	blob = append(blob, '\n')
	if c.out == "" {
		os.Stdout.Write(blob)
	} else if err := os.WriteFile(c.out, blob, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: writing %s: %v\n", c.out, err)
	}
	fmt.Fprintln(os.Stderr, res.summaryLine())
	return 0
}

func readTokens(path string) ([]*battery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var bats []*battery
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: want '<battery_id> [token]', got %d fields", line, len(fields))
		}
		b := &battery{id: fields[0]}
		if len(fields) == 2 {
			b.auth = []string{"Bearer " + fields[1]}
		}
		bats = append(bats, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(bats) == 0 {
		return nil, errors.New("no battery lines")
	}
	return bats, nil
}

// target is one pre-parsed request destination with its auth header.
type target struct {
	url  *url.URL
	auth []string
}

// buildTargets returns one target for every battery in get mode with {id} in the
// URL, otherwise a single target.
func buildTargets(c config, bats []*battery) ([]target, error) {
	parse := func(raw string) (*url.URL, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q is not an http(s) URL", raw)
		}
		return u, nil
	}
	if c.mode != "get" {
		u, err := parse(c.url)
		if err != nil {
			return nil, err
		}
		return []target{{url: u}}, nil
	}
	// get mode: one user token for every request: a line's own, else the first one.
	var shared []string
	for _, b := range bats {
		if b.auth != nil {
			shared = b.auth
			break
		}
	}
	if !strings.Contains(c.url, "{id}") {
		u, err := parse(c.url)
		if err != nil {
			return nil, err
		}
		return []target{{url: u, auth: shared}}, nil
	}
	ts := make([]target, len(bats))
	for k, b := range bats {
		u, err := parse(strings.ReplaceAll(c.url, "{id}", url.PathEscape(b.id)))
		if err != nil {
			return nil, err
		}
		auth := b.auth
		if auth == nil {
			auth = shared
		}
		ts[k] = target{url: u, auth: auth}
	}
	return ts, nil
}

// pooledBody is a request body over a pooled buffer; the transport closes it once
// it has finished with it (possibly after Do returned), which recycles the buffer.
type pooledBody struct {
	buf  atomic.Pointer[[]byte]
	off  int
	pool *sync.Pool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	buf := b.buf.Load()
	if buf == nil || b.off >= len(*buf) {
		return 0, io.EOF
	}
	n := copy(p, (*buf)[b.off:])
	b.off += n
	return n, nil
}

func (b *pooledBody) Close() error {
	if buf := b.buf.Swap(nil); buf != nil {
		b.pool.Put(buf)
	}
	return nil
}

type workerStats struct {
	requests, ok, errors, late, readingsOK, acceptedMissing int64
	statuses                                                [600]int64
	otherStatus                                             map[int]int64
	lat                                                     []int64
	firstErr                                                string
	lastDone                                                time.Time // the last counted request's end
}

type runner struct {
	c            config
	bats         []*battery
	targets      []target
	gen          *payloadGen
	client       *http.Client
	t0           time.Time
	measureStart time.Time
	measureEnd   time.Time
	slot         atomic.Int64 // open loop: next schedule slot
	rr           atomic.Int64 // round-robin battery choice for POSTs
	bufPool      sync.Pool
	ctype        []string
	ua           []string
}

func newClient(connections int) *http.Client {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          connections,
		MaxIdleConnsPerHost:   connections,
		MaxConnsPerHost:       connections,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		Protocols:             protos,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		ResponseHeaderTimeout: requestTimeout,
		WriteBufferSize:       32 * 1024,
		ReadBufferSize:        16 * 1024,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

func execute(c config, bats []*battery, targets []target, start time.Time) *result {
	nv := maxVariants
	r := &runner{c: c, bats: bats, targets: targets, client: newClient(c.connections),
		ctype: []string{"application/json"}, ua: []string{"batteryhub-loadgen/1"}}
	if c.mode != "get" {
		r.gen = newPayloadGen(bats, c.seed, nv, start, c.errorRate, c.unknownRate)
	}
	r.bufPool.New = func() any { b := make([]byte, 0, 4096); return &b }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.t0 = time.Now()
	r.measureStart = r.t0.Add(c.warmup)
	r.measureEnd = r.measureStart.Add(c.duration)

	stats := make([]*workerStats, c.connections)
	var wg sync.WaitGroup
	for w := range c.connections {
		stats[w] = &workerStats{lat: make([]int64, 0, 1024)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx, uint64(w), stats[w])
		}()
	}

	time.Sleep(time.Until(r.measureStart))
	cpu0 := rusage()
	time.Sleep(time.Until(r.measureEnd))
	cpu1 := rusage()
	grace := time.AfterFunc(endGrace, cancel)
	wg.Wait()
	grace.Stop()
	r.client.CloseIdleConnections()
	cpuEnd := rusage()
	return r.collect(stats, cpu0, cpu1, cpuEnd)
}

func (r *runner) work(ctx context.Context, w uint64, st *workerStats) {
	rng := rand.New(rand.NewPCG(r.c.seed, w+1))
	var rbuf bytes.Buffer
	openLoop := r.c.rate > 0
	nsPerSlot := 0.0
	if openLoop {
		nsPerSlot = 1e9 / r.c.rate
	}
	var backoff time.Duration
	for {
		if backoff > 0 {
			// never past the window: a worker still asleep then would hold up the run's end
			time.Sleep(min(backoff, time.Until(r.measureEnd)))
			backoff = 0
		}
		var sched time.Time
		if openLoop {
			k := r.slot.Add(1) - 1
			sched = r.t0.Add(time.Duration(float64(k) * nsPerSlot))
			if !sched.Before(r.measureEnd) {
				return
			}
			if d := time.Until(sched); d > 0 {
				time.Sleep(d)
			}
		}
		req, nReadings := r.newRequest(ctx, rng)
		sent := time.Now()
		// Open loop: a slot due in the window is sent however late, as its battery would
		// send it; not sending it would leave out the very request the workers were too
		// busy for (its lateness counts, and its latency runs from its slot). Closed loop:
		// nothing starts after the window.
		if !openLoop && !sent.Before(r.measureEnd) {
			if req.Body != nil {
				req.Body.Close()
			}
			return
		}
		if !openLoop {
			sched = sent
		}
		resp, err := r.client.Do(req)
		status := 0
		var accepted int64
		if err == nil {
			status = resp.StatusCode
			if r.c.honorRetryAfter && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
				backoff = retryAfter(resp.Header.Get("Retry-After"))
			}
			ok := status >= 200 && status < 300
			if ok && r.c.mode == "batch" {
				rbuf.Reset()
				_, err = rbuf.ReadFrom(resp.Body)
				var found bool
				if accepted, found = scanAccepted(rbuf.Bytes()); !found {
					st.acceptedMissing++
				}
			} else {
				_, err = io.Copy(io.Discard, resp.Body)
				if ok {
					accepted = int64(nReadings)
				}
			}
			resp.Body.Close()
		}
		done := time.Now()
		if err != nil && !openLoop {
			time.Sleep(errorPause) // a refused connection must not turn into a busy loop
		}
		// A request counts by when it was due: its slot (open loop) or when it was sent
		// (closed loop). Counting by completion lost the answers still on their way when
		// the window closed: an open-loop run without warm-up came out a request short.
		if sched.Before(r.measureStart) {
			continue
		}
		st.requests++
		st.lastDone = done
		if openLoop && sent.Sub(sched) > lateThreshold {
			st.late++
		}
		if err != nil {
			st.errors++
			if st.firstErr == "" {
				st.firstErr = err.Error()
			}
			continue
		}
		if status < len(st.statuses) {
			st.statuses[status]++
		} else {
			if st.otherStatus == nil {
				st.otherStatus = map[int]int64{}
			}
			st.otherStatus[status]++
		}
		if status >= 200 && status < 300 {
			st.ok++
			st.readingsOK += accepted
		}
		st.lat = append(st.lat, int64(done.Sub(sched)))
	}
}

// retryAfter is a Retry-After header's delay in seconds; 0 for none, a date or nonsense.
func retryAfter(header string) time.Duration {
	seconds, err := strconv.Atoi(strings.TrimSpace(header))
	if err != nil || seconds < 0 {
		return 0
	}
	return time.Duration(seconds) * time.Second
}

func (r *runner) newRequest(ctx context.Context, rng *rand.Rand) (*http.Request, int) {
	h := make(http.Header, 3)
	h["User-Agent"] = r.ua
	if r.c.mode == "get" {
		t := r.targets[0]
		if len(r.targets) > 1 {
			t = r.targets[rng.IntN(len(r.targets))]
		}
		if t.auth != nil {
			h["Authorization"] = t.auth
		}
		req := &http.Request{Method: http.MethodGet, URL: t.url, Host: t.url.Host, Header: h,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		return req.WithContext(ctx), 0
	}
	b := r.bats[int(uint64(r.rr.Add(1)-1)%uint64(len(r.bats)))]
	bufp := r.bufPool.Get().(*[]byte)
	n := 1
	if r.c.mode == "batch" {
		*bufp = r.gen.appendBatch((*bufp)[:0], b, r.c.batch, rng)
		n = r.c.batch
	} else {
		*bufp = r.gen.appendSingle((*bufp)[:0], b, rng)
	}
	body := &pooledBody{pool: &r.bufPool}
	body.buf.Store(bufp)
	h["Content-Type"] = r.ctype
	if b.auth != nil {
		h["Authorization"] = b.auth
	}
	u := r.targets[0].url
	req := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: body, ContentLength: int64(len(*bufp))}
	return req.WithContext(ctx), n
}

type cpuTimes struct{ user, sys float64 }

func rusage() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuTimes{tv(ru.Utime), tv(ru.Stime)}
}

type result struct {
	Mode            string           `json:"mode"`
	URL             string           `json:"url"`
	Connections     int              `json:"connections"`
	RateTarget      float64          `json:"rate_target"`
	Batch           int              `json:"batch,omitempty"`
	Batteries       int              `json:"batteries"`
	DurationS       float64          `json:"duration_s"`
	WarmupS         float64          `json:"warmup_s"`
	Requests        int64            `json:"requests"`
	OK              int64            `json:"ok"`
	Statuses        map[string]int64 `json:"statuses"`
	Errors          int64            `json:"errors"`
	Late            int64            `json:"late"`
	LateThresholdMs float64          `json:"late_threshold_ms"`
	ReadingsOK      int64            `json:"readings_ok"`
	AcceptedMissing int64            `json:"accepted_missing,omitempty"`
	RequestsPerS    float64          `json:"requests_per_s"`
	ReadingsPerS    float64          `json:"readings_per_s"`
	LatencyMs       latencySummary   `json:"latency_ms"`
	// AnsweredAfterS: from the window's end to the last counted request's end, 0 if that
	// came first. Open loop, it is how far the server had fallen behind the schedule.
	AnsweredAfterS float64 `json:"answered_after_window_s"`
	CPUUserS       float64 `json:"cpu_user_s"`
	CPUSysS        float64 `json:"cpu_sys_s"`
	CPUWindowUserS float64 `json:"cpu_window_user_s"`
	CPUWindowSysS  float64 `json:"cpu_window_sys_s"`
	Seed           uint64  `json:"seed"`
	FirstError     string  `json:"first_error,omitempty"`
	// Device times used (POST modes): the next run against the same database can
	// pass -start <device_time_oldest minus 1 s> to stay clear of deduplication.
	DeviceTimeNewest string `json:"device_time_newest,omitempty"`
	DeviceTimeOldest string `json:"device_time_oldest,omitempty"`
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

func (r *runner) collect(stats []*workerStats, cpu0, cpu1, cpuEnd cpuTimes) *result {
	res := &result{
		Mode: r.c.mode, URL: r.c.url, Connections: r.c.connections, RateTarget: r.c.rate,
		Batteries: len(r.bats), DurationS: r.measureEnd.Sub(r.measureStart).Seconds(),
		WarmupS: r.c.warmup.Seconds(), Statuses: map[string]int64{},
		LateThresholdMs: float64(lateThreshold) / 1e6, Seed: r.c.seed,
	}
	if r.c.mode == "batch" {
		res.Batch = r.c.batch
	}
	total := 0
	for _, st := range stats {
		total += len(st.lat)
	}
	lat := make([]int64, 0, total)
	for _, st := range stats {
		res.Requests += st.requests
		res.OK += st.ok
		res.Errors += st.errors
		res.Late += st.late
		res.ReadingsOK += st.readingsOK
		res.AcceptedMissing += st.acceptedMissing
		for code, n := range st.statuses {
			if n > 0 {
				res.Statuses[strconv.Itoa(code)] += n
			}
		}
		for code, n := range st.otherStatus {
			res.Statuses[strconv.Itoa(code)] += n
		}
		lat = append(lat, st.lat...)
		if st.lastDone.After(r.measureEnd) {
			res.AnsweredAfterS = max(res.AnsweredAfterS, round3(st.lastDone.Sub(r.measureEnd).Seconds()))
		}
		if res.FirstError == "" {
			res.FirstError = st.firstErr
		}
	}
	if r.gen != nil {
		var most int64
		for _, b := range r.bats {
			most = max(most, b.next.Load())
		}
		if most > 0 {
			res.DeviceTimeNewest = time.Unix(r.gen.start, 0).UTC().Format(time.RFC3339)
			res.DeviceTimeOldest = time.Unix(r.gen.start-most+1, 0).UTC().Format(time.RFC3339)
		}
	}
	res.LatencyMs = summarize(lat)
	if r.c.mode == "get" {
		res.ReadingsOK = 0
	}
	res.RequestsPerS = round3(float64(res.OK) / res.DurationS)
	res.ReadingsPerS = round3(float64(res.ReadingsOK) / res.DurationS)
	res.CPUUserS, res.CPUSysS = round3(cpuEnd.user), round3(cpuEnd.sys)
	res.CPUWindowUserS, res.CPUWindowSysS = round3(cpu1.user-cpu0.user), round3(cpu1.sys-cpu0.sys)
	return res
}

func (res *result) summaryLine() string {
	rate := "closed-loop"
	if res.RateTarget > 0 {
		rate = fmt.Sprintf("open-loop %.0f/s", res.RateTarget)
	}
	return fmt.Sprintf("loadgen %s %s c=%d: %d req, %d ok, %d err, %d late in %.1fs (+%.3fs to the last answer) = %.1f req/s, %.1f readings/s; "+
		"latency ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f; cpu %.2fu+%.2fs (window %.2fu+%.2fs); statuses %s",
		res.Mode, rate, res.Connections, res.Requests, res.OK, res.Errors, res.Late, res.DurationS,
		res.AnsweredAfterS, res.RequestsPerS, res.ReadingsPerS, res.LatencyMs.P50, res.LatencyMs.P90, res.LatencyMs.P99,
		res.LatencyMs.P999, res.LatencyMs.Max, res.CPUUserS, res.CPUSysS, res.CPUWindowUserS, res.CPUWindowSysS,
		statusText(res.Statuses))
}

func statusText(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for k, code := range keys {
		parts[k] = fmt.Sprintf("%s=%d", code, m[code])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
