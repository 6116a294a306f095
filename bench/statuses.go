package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Responses by status, read from the server's own metrics: wrk only counts
// "non-2xx", and with the access log off (as W5 at scale runs) a 404 for a
// host nobody has leaves no line anywhere (the 14 non-2xx at 30,000 were
// 404s for three tenants a stopped growth had not made).

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// statusCounts reads condo_http_requests_total from the server's metrics
// listener, summed by status code and route kind ("404 unknown").
func statusCounts(ctx context.Context, metricsAddr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	counts := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "condo_http_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", sc.Text(), err)
		}
		counts[label(labels, "code")+" "+label(labels, "route")] += v
	}
	return counts, sc.Err()
}

// label is the value of name in a Prometheus label set (`a="x",b="y"`).
func label(labels, name string) string {
	_, rest, ok := strings.Cut(","+labels, ","+name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// non2xx describes the responses that were not 2xx or 3xx between two
// readings, "none" when there were none: "404 unknown ×14".
func non2xx(before, after map[string]float64) string {
	var parts []string
	for k, v := range after {
		if d := v - before[k]; d > 0 && k >= "4" {
			parts = append(parts, fmt.Sprintf("%s ×%.0f", k, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
