package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process sampling from /proc: the memory and CPU of the server, of the
// bench cluster's processes and of PgBouncer during a run.

type pgMem struct {
	rss, pss int64
	procs    int
}

func (a pgMem) max(b pgMem) pgMem {
	if b.rss > a.rss {
		return b
	}
	return a
}

// postgresMem sums RSS, and PSS when pss is set, over the cluster's
// processes (the postmaster and its children).
func postgresMem(pgDir string, pss bool) pgMem {
	var m pgMem
	for _, pid := range clusterPids(pgDir) {
		m.rss += procStatus(pid, "VmRSS:")
		if pss {
			m.pss += smapsRollup(pid, "Pss:")
		}
		m.procs++
	}
	return m
}

type cpuSample struct {
	server, pooler, total float64
	pg                    map[int]float64 // CPU seconds of each of the cluster's processes
}

// postgresSince is the CPU the cluster's processes used since b: summed
// over the processes alive at both samples, so that an autovacuum worker or
// a replaced connection that exits during the run does not take its whole
// lifetime's CPU off the total (a negative figure) or add it.
func (a cpuSample) postgresSince(b cpuSample) float64 {
	var n float64
	for pid, t := range a.pg {
		if t0, ok := b.pg[pid]; ok {
			n += t - t0
		}
	}
	return n
}

// clusterPids returns the bench cluster's postmaster and its children
// (other PostgreSQL servers on the machine, such as test clusters, are not
// counted).
func clusterPids(pgDir string) []int {
	b, err := os.ReadFile(filepath.Join(pgDir, "data", "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	pids := []int{pm}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		if procStatus(pid, "PPid:")>>10 == int64(pm) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuTimes reads the CPU seconds used so far by the server, by the bench
// cluster's processes (live ones; backends are long-lived here), and by
// the whole machine (from /proc/stat).
func cpuTimes(serverPid, poolerPid int, pgDir string) cpuSample {
	c := cpuSample{pg: map[int]float64{}}
	c.server = procCPU(serverPid)
	if poolerPid != 0 {
		c.pooler = procCPU(poolerPid)
	}
	for _, pid := range clusterPids(pgDir) {
		c.pg[pid] = procCPU(pid)
	}
	b, _ := os.ReadFile("/proc/stat")
	if line, _, ok := strings.Cut(string(b), "\n"); ok {
		f := strings.Fields(line)
		// user nice system idle iowait irq softirq steal: busy = all but idle, iowait.
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i > 7 {
				continue
			}
			n, _ := strconv.ParseFloat(v, 64)
			c.total += n / 100
		}
	}
	return c
}

func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

func procStatus(pid int, key string) int64 { return kbField(fmt.Sprintf("/proc/%d/status", pid), key) }
func smapsRollup(pid int, key string) int64 {
	return kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), key)
}

func kbField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}
