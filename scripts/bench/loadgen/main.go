// Command loadgen is the TSA benchmark's load generator: a separate process
// that sends a fixed number of requests (or runs a command per request) at a
// fixed concurrency, only to a loopback address, stops by itself after at
// most -max-duration, and prints one tab-separated line:
//
//	name  concurrency  ok  failed  seconds  per_second  p50_ms  p99_ms
//
// and with -exec a ninth column: the CPU milliseconds the commands used.
//
// With -tsa each reply must be a TimeStampResp whose status is granted;
// with -ocsp an OCSPResponse whose status is successful; with -expect the
// reply must contain that string (e.g. the validation report's main
// indication). -multipart NAME=FILE,... POSTs those files as the parts of
// one multipart/form-data body, built once (the validate endpoint's
// "signature" and "content"). -get sends the
// body as RFC 5019 GET (URL/base64) instead of a POST. -duration runs for
// that long instead of -n requests.
package main

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", "target", "row name")
	target := flag.String("url", "", "URL to POST to (127.0.0.1 / localhost / [::1] only)")
	bodyFile := flag.String("body", "", "file whose bytes are POSTed")
	ctype := flag.String("content-type", "application/timestamp-query", "Content-Type of the POST")
	isTSA := flag.Bool("tsa", false, "require a granted TimeStampResp in every reply")
	isOCSP := flag.Bool("ocsp", false, "require a successful OCSPResponse in every reply")
	useGET := flag.Bool("get", false, "send GET URL/<base64 of the body> (RFC 5019) instead of POST")
	expect := flag.String("expect", "", "require every reply to contain this string")
	parts := flag.String("multipart", "", "POST these files as multipart/form-data parts: NAME=FILE,NAME=FILE")
	dur := flag.Duration("duration", 0, "run for this long (instead of -n requests)")
	command := flag.String("exec", "", "instead of HTTP, run this command (via sh -c) once per request")
	n := flag.Int("n", 2000, "requests to send")
	c := flag.Int("c", 1, "concurrency")
	warm := flag.Int("warmup", 50, "requests sent first and not measured")
	maxDur := flag.Duration("max-duration", 60*time.Second, "stop after this long whatever the count")
	flag.Parse()
	check := func([]byte) error { return nil }
	switch {
	case *isTSA:
		check = granted
	case *isOCSP:
		check = ocspSuccessful
	case *expect != "":
		check = func(reply []byte) error {
			if !bytes.Contains(reply, []byte(*expect)) {
				return fmt.Errorf("reply lacks %q: %.200s", *expect, reply)
			}
			return nil
		}
	}
	if *parts != "" {
		f, ct, err := multipartBody(*parts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer os.Remove(f)
		*bodyFile, *ctype = f, ct
	}
	if *dur > 0 {
		// Bounded by time: -n only sizes the latency buffer.
		*n, *maxDur = 1<<62, *dur
	}
	if err := run(*name, *target, *bodyFile, *ctype, check, *useGET, *command, *n, *c, *warm, *maxDur); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(name, target, bodyFile, ctype string, check func([]byte) error, useGET bool, command string, n, c, warm int, maxDur time.Duration) error {
	if n <= 0 || c <= 0 {
		return errors.New("-n and -c must be positive")
	}
	var op func(ctx context.Context) error
	if command != "" {
		op = func(ctx context.Context) error {
			out, err := exec.CommandContext(ctx, "sh", "-c", command).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	} else {
		if err := loopbackOnly(target); err != nil {
			return err
		}
		body, err := os.ReadFile(bodyFile)
		if err != nil {
			return err
		}
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, DisableCompression: true}}
		getURL := target + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(body))
		op = func(ctx context.Context) error {
			var req *http.Request
			var err error
			if useGET {
				req, err = http.NewRequestWithContext(ctx, http.MethodGet, getURL, nil)
			} else {
				req, err = http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
			}
			if err != nil {
				return err
			}
			if !useGET {
				req.Header.Set("Content-Type", ctype)
			}
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			reply, err := io.ReadAll(res.Body)
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %s", res.Status)
			}
			return check(reply)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	for i := 0; i < warm; i++ {
		if err := op(ctx); err != nil {
			return fmt.Errorf("%s: warm-up request: %w", name, err)
		}
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	// Latencies per worker, so a time-bounded run needs no count up front.
	lats := make([][]time.Duration, c)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if err := op(ctx); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				if ctx.Err() == nil {
					lats[w] = append(lats[w], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	elapsed := min(time.Since(start), maxDur)
	var good []time.Duration
	for _, l := range lats {
		good = append(good, l...)
	}
	slices.Sort(good)
	if len(good) == 0 {
		return fmt.Errorf("%s: no request succeeded: %v", name, firstErr.Load())
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %s: %d failed, first: %v\n", name, failed.Load(), e)
	}
	q := func(p float64) float64 { return float64(good[int(p*float64(len(good)-1))]) / 1e6 }
	fmt.Printf("%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f", name, c, len(good), failed.Load(), elapsed.Seconds(),
		float64(len(good))/elapsed.Seconds(), q(0.50), q(0.99))
	if command != "" {
		var ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
		ms := func(r syscall.Rusage) float64 {
			return float64(r.Utime.Sec+r.Stime.Sec)*1e3 + float64(r.Utime.Usec+r.Stime.Usec)/1e3
		}
		fmt.Printf("\t%.0f", ms(ru1)-ms(ru0))
	}
	fmt.Println()
	return nil
}

// multipartBody writes the multipart/form-data body of spec
// (NAME=FILE,...) to a temporary file and returns it with its Content-Type.
func multipartBody(spec string) (string, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range strings.Split(spec, ",") {
		name, file, ok := strings.Cut(p, "=")
		if !ok || name == "" || file == "" {
			return "", "", fmt.Errorf("-multipart %q: want NAME=FILE,...", spec)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", err
		}
		w, err := mw.CreateFormFile(name, filepath.Base(file))
		if err != nil {
			return "", "", err
		}
		w.Write(b)
	}
	if err := mw.Close(); err != nil {
		return "", "", err
	}
	f, err := os.CreateTemp("", "loadgen-body-*")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return "", "", err
	}
	return f.Name(), mw.FormDataContentType(), nil
}

// loopbackOnly refuses any target that is not this machine's loopback.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q is not a URL", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url %q: only loopback targets are allowed", target)
}

// granted checks that reply is a TimeStampResp with status granted (0) or
// grantedWithMods (1) and a token.
func granted(reply []byte) error {
	var r struct {
		Status struct {
			Status int
			Rest   asn1.RawValue `asn1:"optional"`
			More   asn1.RawValue `asn1:"optional"`
		}
		Token asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("reply is not a TimeStampResp: %w", err)
	}
	if r.Status.Status > 1 || len(r.Token.FullBytes) == 0 {
		return fmt.Errorf("reply status %d", r.Status.Status)
	}
	return nil
}

// ocspSuccessful checks that reply is an OCSPResponse with status
// successful (0) and a response body.
func ocspSuccessful(reply []byte) error {
	var r struct {
		Status asn1.Enumerated
		Bytes  asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	if _, err := asn1.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("reply is not an OCSPResponse: %w", err)
	}
	if r.Status != 0 || len(r.Bytes.FullBytes) == 0 {
		return fmt.Errorf("OCSP response status %d", r.Status)
	}
	return nil
}
