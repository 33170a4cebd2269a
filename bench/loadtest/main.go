// Command loadtest measures sharesvc's redirect path against a bare net/http
// redirect, side by side in one run on one machine:
//
//  1. builds sharesvc, bench/bare302 and bench/durable302;
//  2. starts the real local S3+STS server and seeds a SQLite database with
//     N links (and optionally M audit rows);
//  3. starts the servers pinned to CPU 0 (taskset) and drives each with
//     wrk pinned to CPU 1 (-t1 -c64 --latency), interleaving repetitions;
//     with -floor (the default) durable302 runs too, twice: the bare 302
//     after one durably committed row, into a bare table and into
//     audit_events, the floor under any durably audited redirect;
//  4. prints req/s, p50/p99, server CPU per request and RSS, with medians
//     and the ratio, and optionally a CPU profile of sharesvc under load.
//
// With -postgres it also starts a throwaway PostgreSQL cluster (Debian's
// server binaries, as the tests do), seeds the same links into it, and
// measures sharesvc on PostgreSQL with one instance and with three
// instances on the one database (three wrk processes, one per instance,
// sharing the connections), beside the SQLite figure in the same run. The
// audit row is committed with synchronous_commit=on (PostgreSQL's default)
// before each 302. PostgreSQL's processes are not pinned: their CPU is
// counted in the server CPU per request.
//
// Run it with `make bench` (which installs wrk) or `go run ./bench/loadtest -h`.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/testrig/auditseed"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

func main() {
	var o options
	flag.IntVar(&o.links, "links", 10, "links in the database")
	flag.IntVar(&o.grants, "grants", 0, "make the links under this many grants (round robin), so each grant's URLs are signed with its own scoped STS session; 0: the role's session signs all")
	flag.IntVar(&o.hot, "hot", 1000, "distinct links the load cycles through (at most -links)")
	flag.IntVar(&o.auditRows, "audit-rows", 0, "audit rows to seed before measuring")
	flag.IntVar(&o.reps, "reps", 5, "interleaved repetitions per server")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections")
	flag.IntVar(&o.clients, "clients", 1, "distinct client addresses (1–65536), sent as X-Forwarded-For from a trusted proxy when more than 1")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of sharesvc under load to this file")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a fresh temporary one)")
	flag.StringVar(&o.extraEnv, "env", "", "extra KEY=VALUE,… for sharesvc (e.g. rate limits)")
	flag.BoolVar(&o.postgres, "postgres", false, "also measure sharesvc on a throwaway PostgreSQL cluster, with one and with three instances (installs nothing: run scripts/postgres.sh first)")
	flag.BoolVar(&o.floor, "floor", true, "also measure bench/durable302, the bare 302 after one durably committed row (into a bare table and into audit_events)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	links, hot, auditRows, reps, conns int
	grants                             int
	clients                            int
	duration                           time.Duration
	profile, dir, extraEnv             string
	floor, postgres                    bool
}

type result struct {
	rps, p50, p99 float64 // req/s, ms, ms
	cpuPerReq     float64 // µs of server CPU per request
	rssMB, hwmMB  float64
	fileMB        float64 // of rssMB, file-backed
	total         float64 // requests in the run
}

func run(ctx context.Context, o options) error {
	if o.clients < 1 || o.clients > 65536 {
		return fmt.Errorf("-clients %d: want 1 to 65536", o.clients)
	}
	for _, tool := range []string{"wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required (Debian packages wrk and util-linux; `make bench` installs wrk)", tool)
		}
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "sharesvc-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	log.Printf("building sharesvc, bare302 and durable302 in %s", o.dir)
	for _, b := range [][2]string{{"sharesvc", "./cmd/sharesvc"}, {"bare302", "./bench/bare302"}, {"durable302", "./bench/durable302"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(o.dir, b[0]), b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b[1], err, out)
		}
	}

	log.Printf("starting the local S3+STS server")
	s3, err := seaweed.Start(ctx, seaweed.Options{Dir: filepath.Join(o.dir, "s3"), Buckets: []string{"bench"}})
	if err != nil {
		return err
	}
	defer s3.Stop()
	if err := s3.PutObject(ctx, "bench", "object.bin", []byte("x")); err != nil {
		return err
	}

	dbPath := filepath.Join(o.dir, "bench.db")
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s already exists: give -dir an empty or new directory (seeding needs a fresh database)", dbPath)
	}
	log.Printf("seeding %d links and %d audit rows", o.links, o.auditRows)
	all, err := allCodes(o.links)
	if err != nil {
		return err
	}
	codes, err := seed(ctx, dbPath, o.links, min(o.hot, o.links), o.auditRows, o.grants, all)
	if err != nil {
		return err
	}
	codesFile := filepath.Join(o.dir, "codes.txt")
	if err := os.WriteFile(codesFile, []byte(strings.Join(codes, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	script := filepath.Join(o.dir, "paths.lua")
	if err := os.WriteFile(script, []byte(luaScript(o.clients)), 0o600); err != nil {
		return err
	}

	svcAddr, debugAddr := freeAddr(), freeAddr()
	env := append(os.Environ(),
		"AWS_REGION="+s3.Region, "AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ENDPOINT_URL_STS="+s3.Endpoint,
		"SHARESVC_ROLE_ARN="+s3.RoleARN, "SHARESVC_BUCKET=bench", "SHARESVC_S3_PATH_STYLE=true",
		"SHARESVC_LOG_FORMAT=json",
		// The limiter runs on every request, as in production, with limits
		// no load here reaches: 64 connections from one address would
		// otherwise be throttled, which is the limiter working, not the
		// redirect path. -env can override these (or set them to "off").
		"SHARESVC_RATE_IP=1000000/s burst 1000000", "SHARESVC_RATE_LINK=1000000/s burst 1000000",
		"SHARESVC_RATE_MISS=1000000/s burst 1000000",
		// Any free port for the private listener, so runs side by side
		// do not collide on its default.
		"SHARESVC_METRICS_LISTEN=127.0.0.1:0")
	if o.clients > 1 {
		// wrk's connections come through loopback, standing in for a proxy.
		env = append(env, "SHARESVC_TRUSTED_PROXIES=127.0.0.1")
	}
	if o.extraEnv != "" {
		env = append(env, strings.Split(o.extraEnv, ",")...)
	}
	// serve starts one sharesvc on CPU 0 with extra settings, and returns
	// its pid once it answers.
	var serves []*exec.Cmd
	defer func() {
		for _, svc := range serves {
			svc.Process.Signal(os.Interrupt)
			svc.Wait()
		}
	}()
	serve := func(name, addr string, extra ...string) (int, error) {
		svc := exec.CommandContext(ctx, "taskset", "-c", "0", filepath.Join(o.dir, "sharesvc"), "serve")
		svc.Env = append(append(env, "SHARESVC_LISTEN="+addr), extra...)
		svcLog, _ := os.Create(filepath.Join(o.dir, name+".log"))
		svc.Stdout, svc.Stderr = svcLog, svcLog
		if err := svc.Start(); err != nil {
			return 0, err
		}
		serves = append(serves, svc)
		if err := waitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
			return 0, fmt.Errorf("sharesvc did not start (log in %s): %w", svcLog.Name(), err)
		}
		return findChild(svc.Process.Pid), nil
	}
	svcPid, err := serve("sharesvc", svcAddr, "SHARESVC_DB="+dbPath, "SHARESVC_DEBUG_LISTEN="+debugAddr)
	if err != nil {
		return err
	}
	var pgAddrs []string
	var pgPids []int
	if o.postgres {
		log.Printf("starting a throwaway PostgreSQL cluster and seeding it with the same links")
		cluster, err := postgres.Start(ctx)
		if err != nil {
			return err
		}
		defer cluster.Stop()
		pgURL, _, err := cluster.CreateDatabase(ctx)
		if err != nil {
			return err
		}
		if _, err := seed(ctx, pgURL, o.links, min(o.hot, o.links), o.auditRows, o.grants, all); err != nil {
			return err
		}
		key := filepath.Join(o.dir, "checkpoint.key")
		if out, err := exec.CommandContext(ctx, filepath.Join(o.dir, "sharesvc"), "audit", "keygen", "--out", key).CombinedOutput(); err != nil {
			return fmt.Errorf("audit keygen: %v\n%s", err, out)
		}
		for i := 0; i < 3; i++ {
			addr := freeAddr()
			pid, err := serve(fmt.Sprintf("sharesvc-pg%d", i+1), addr, "SHARESVC_DB="+pgURL, "SHARESVC_CHECKPOINT_KEY="+key,
				"SHARESVC_CHECKPOINT_DIR="+filepath.Join(o.dir, fmt.Sprintf("checkpoints-%d", i+1)))
			if err != nil {
				return err
			}
			pgAddrs, pgPids = append(pgAddrs, "http://"+addr), append(pgPids, pid)
		}
	}

	// The bare server's Location is as long as a real one.
	locLen, err := locationLength(ctx, "http://"+svcAddr+"/s/"+codes[0])
	if err != nil {
		return err
	}
	// A target is one server, or several instances loaded side by side
	// (one wrk each, sharing the connections); with pg, PostgreSQL's CPU
	// counts as the server's.
	type target struct {
		name string
		urls []string
		pids []int
		pg   bool
	}
	var stops []func()
	start := func(name, bin string, args ...string) (target, error) {
		cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", "0", filepath.Join(o.dir, bin)}, args...)...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return target{}, err
		}
		stops = append(stops, func() { cmd.Process.Kill(); cmd.Wait() })
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return target{}, fmt.Errorf("%s did not start: %w", bin, err)
		}
		return target{name: name, urls: []string{"http://" + strings.TrimSpace(addr)}, pids: []int{cmd.Process.Pid}}, nil
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	loc := strconv.Itoa(locLen)
	bare, err := start("bare net/http 302", "bare302", "-location-bytes", loc)
	if err != nil {
		return err
	}
	targets := []target{bare}
	if o.floor {
		for _, table := range []string{"minimal", "audit"} {
			t, err := start("durable302 -table "+table, "durable302", "-location-bytes", loc,
				"-table", table, "-db", filepath.Join(o.dir, "floor-"+table+".db"))
			if err != nil {
				return err
			}
			targets = append(targets, t)
		}
	}
	targets = append(targets, target{name: "sharesvc GET /s/{code}", urls: []string{"http://" + svcAddr}, pids: []int{svcPid}})
	svcIdx := len(targets) - 1
	if o.postgres {
		targets = append(targets,
			target{name: "sharesvc on PostgreSQL, 1 instance", urls: pgAddrs[:1], pids: pgPids[:1], pg: true},
			target{name: "sharesvc on PostgreSQL, 3 instances", urls: pgAddrs, pids: pgPids, pg: true})
	}
	log.Printf("warming up; Location is %d bytes; %d hot links", locLen, len(codes))
	for _, t := range targets {
		if _, err := wrkAll(ctx, t.urls, script, codesFile, 3*time.Second, o.conns, t.pids, t.pg); err != nil {
			return err
		}
	}
	results := make([][]result, len(targets))
	for rep := 0; rep < o.reps; rep++ {
		for i, t := range targets {
			if o.profile != "" && i == svcIdx && rep == o.reps/2 {
				go fetchProfile(ctx, "http://"+debugAddr, o.profile, o.duration-2*time.Second)
			}
			r, err := wrkAll(ctx, t.urls, script, codesFile, o.duration, o.conns, t.pids, t.pg)
			if err != nil {
				return err
			}
			log.Printf("rep %d %-25s %8.0f req/s  p50 %5.2f ms  p99 %6.2f ms  %5.1f µs CPU/req  RSS %5.1f MB (file %5.1f)",
				rep+1, t.name, r.rps, r.p50, r.p99, r.cpuPerReq, r.rssMB, r.fileMB)
			results[i] = append(results[i], r)
		}
	}

	fmt.Printf("\n%d links, %d audit rows seeded, %d hot links, %d client addresses, %d connections, %d × %s per server, Location %d bytes\n\n",
		o.links, o.auditRows, len(codes), o.clients, o.conns, o.reps, o.duration, locLen)
	fmt.Printf("| server | req/s (median) | p50 ms | p99 ms | server CPU µs/req | RSS MB (peak) | of RSS, file-backed MB |\n|---|---|---|---|---|---|---|\n")
	med := make([]result, len(targets))
	for i, t := range targets {
		med[i] = median(results[i])
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.1f | %.1f (%.1f) | %.1f |\n", t.name, med[i].rps, med[i].p50, med[i].p99, med[i].cpuPerReq, med[i].rssMB, med[i].hwmMB, med[i].fileMB)
	}
	fmt.Println()
	for i := 1; i < len(targets); i++ {
		fmt.Printf("ratio %s / bare: %.2f (per-rep ratios:", targets[i].name, med[i].rps/med[0].rps)
		for rep := range results[0] {
			fmt.Printf(" %.2f", results[i][rep].rps/results[0][rep].rps)
		}
		fmt.Println(")")
	}
	sm, ratio := med[svcIdx], med[svcIdx].rps/med[0].rps
	fmt.Printf("\nsharesvc against the targets: throughput ≥ 0.50 of bare: %s (%.2f); p99 ≤ 10 ms: %s (%.2f ms); peak RSS ≤ 100 MB: %s (%.1f MB)\n",
		yesNo(ratio >= 0.5), ratio, yesNo(sm.p99 <= 10), sm.p99, yesNo(sm.hwmMB <= 100), sm.hwmMB)
	if o.profile != "" {
		out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", filepath.Join(o.dir, "sharesvc"), o.profile).CombinedOutput()
		fmt.Printf("\nCPU profile of sharesvc under load (%s):\n%s", o.profile, out)
	}
	return nil
}

// seed writes n links with the codes all (under nGrants grants in turn when
// nGrants > 0) and auditRows chained audit rows into the database at path
// (a SQLite file or a postgres:// URL), and returns the codes of hot of the
// links spread over the table.
func seed(ctx context.Context, path string, n, hot, auditRows, nGrants int, all []string) ([]string, error) {
	d, err := db.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Millisecond)
	every := max(1, n/hot)
	var codes []string
	for i := 0; i < n; i++ {
		code := all[i]
		h := links.HashCode(code)
		l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: "bench", Key: "object.bin",
			CreatedAt: now, CreatedBy: "bench", ExpiresAt: now.Add(24 * time.Hour), PresignTTL: time.Minute}
		if nGrants > 0 {
			// Links under grant i%nGrants, whose whole-bucket scope gives
			// each grant a session of its own.
			l.GrantID = fmt.Sprintf("grt_bench%07d", i%nGrants)
		}
		if err := links.Insert(ctx, tx, l, h[:]); err != nil {
			return nil, err
		}
		if i%every == 0 && len(codes) < hot {
			codes = append(codes, code)
		}
	}
	chain, err := auditseed.New(ctx, tx, 0, nil)
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	for i := 1; i <= auditRows; i++ {
		ev := audit.Event{At: time.UnixMicro(now.UnixMicro()), Action: audit.ActionAccess, Actor: audit.ActorClient,
			LinkID: "lnk_seed", Outcome: audit.OutcomeMinted, ClientIP: "192.0.2.1", UserAgent: "wrk", RequestID: strconv.Itoa(i),
			URLExpiresAt: time.UnixMilli(now.UnixMilli()), STSSession: "seed"}
		if err := chain.Add(ctx, ev); err != nil {
			return nil, err
		}
	}
	return codes, tx.Commit()
}

// allCodes makes n random link codes.
func allCodes(n int) ([]string, error) {
	codes := make([]string, n)
	for i := range codes {
		var b [links.CodeBytes]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		codes[i] = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return codes, nil
}

// luaScript cycles wrk through the codes in CODES_FILE; with clients > 1
// each request comes from one of that many addresses in 198.18.0.0/16
// (the benchmarking range), picked at random, as X-Forwarded-For.
func luaScript(clients int) string {
	return fmt.Sprintf(`
local clients = %d
local paths = {}
for line in io.lines(os.getenv("CODES_FILE")) do paths[#paths + 1] = "/s/" .. line end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  if clients > 1 then
    local c = math.random(0, clients - 1)
    return wrk.format("GET", paths[i], {["X-Forwarded-For"] = string.format("198.18.%%d.%%d", math.floor(c / 256), c %% 256)})
  end
  return wrk.format("GET", paths[i])
end
`, clients)
}

var (
	reqRe = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRe = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	totRe = regexp.MustCompile(`(\d+) requests in`)
	nonRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// wrkAll loads the servers at urls side by side, one wrk each with its share
// of conns, and adds up: requests per second summed, the worst p50 and p99,
// CPU per request of the processes pids (and PostgreSQL's, with pg), memory
// summed.
func wrkAll(ctx context.Context, urls []string, script, codes string, d time.Duration, conns int, pids []int, pg bool) (result, error) {
	cpu := func() float64 {
		var c float64
		for _, pid := range pids {
			c += procCPU(pid)
		}
		if pg {
			c += postgresCPU()
		}
		return c
	}
	cpu0 := cpu()
	rs := make([]result, len(urls))
	errs := make([]error, len(urls))
	done := make(chan int)
	for i, url := range urls {
		go func() {
			rs[i], errs[i] = wrk(ctx, url, script, codes, d, max(1, conns/len(urls)))
			done <- i
		}()
	}
	for range urls {
		<-done
	}
	cpu1 := cpu()
	var sum result
	var total float64
	for i, r := range rs {
		if errs[i] != nil {
			return result{}, errs[i]
		}
		sum.rps += r.rps
		sum.p50, sum.p99 = max(sum.p50, r.p50), max(sum.p99, r.p99)
		total += r.total
	}
	if total > 0 {
		sum.cpuPerReq = (cpu1 - cpu0) / total * 1e6
	}
	for _, pid := range pids {
		rss, hwm, file := procMem(pid)
		sum.rssMB, sum.hwmMB, sum.fileMB = sum.rssMB+rss, sum.hwmMB+hwm, sum.fileMB+file
	}
	return sum, nil
}

// postgresCPU returns the user+system CPU seconds of every process named
// postgres (the cluster's server and backends).
func postgresCPU() float64 {
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	var c float64
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(b)) != "postgres" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		c += procCPU(pid)
	}
	return c
}

// wrk runs one load against url.
func wrk(ctx context.Context, url, script, codes string, d time.Duration, conns int) (result, error) {
	cmd := exec.CommandContext(ctx, "taskset", "-c", "1", "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d/time.Second))+"s",
		"--latency", "-s", script, url)
	cmd.Env = append(os.Environ(), "CODES_FILE="+codes)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	var r result
	if m := reqRe.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range latRe.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if m := nonRe.FindStringSubmatch(s); m != nil {
		return r, fmt.Errorf("wrk saw %s responses other than 2xx/3xx: is a rate limit on? (use -env)\n%s", m[1], s)
	}
	if m := totRe.FindStringSubmatch(s); m != nil {
		r.total, _ = strconv.ParseFloat(m[1], 64)
	}
	return r, nil
}

// procCPU returns the user+system CPU seconds of pid.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procMem returns VmRSS, VmHWM and RssFile (the part of RSS that is
// file-backed: mostly SQLite's memory-mapped database pages, which the
// kernel can drop and reread) of pid in MB.
func procMem(pid int) (rss, hwm, file float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				rss = v / 1024
			case "VmHWM:":
				hwm = v / 1024
			case "RssFile:":
				file = v / 1024
			}
		}
	}
	return rss, hwm, file
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// findChild returns the pid of taskset's child (taskset execs, so it is
// the same pid; kept for clarity if that ever changes).
func findChild(pid int) int { return pid }

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 0 { // the mean of the middle two
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	return result{
		rps: pick(func(r result) float64 { return r.rps }), p50: pick(func(r result) float64 { return r.p50 }),
		p99: pick(func(r result) float64 { return r.p99 }), cpuPerReq: pick(func(r result) float64 { return r.cpuPerReq }),
		rssMB: pick(func(r result) float64 { return r.rssMB }), hwmMB: pick(func(r result) float64 { return r.hwmMB }),
		fileMB: pick(func(r result) float64 { return r.fileMB }),
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("timed out")
}

func locationLength(ctx context.Context, url string) (int, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return 0, fmt.Errorf("sharesvc answered %s to a seeded link, want 302", resp.Status)
	}
	return len(resp.Header.Get("Location")), nil
}

func fetchProfile(ctx context.Context, base, path string, d time.Duration) {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d/time.Second)))
	if err != nil {
		log.Printf("profile: %v (is SHARESVC_DEBUG_LISTEN supported?)", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		log.Printf("profile: %v", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}
