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
//
// With -ocsp -fresh-nonce the body's nonce is replaced in every request by
// one never sent before (a random prefix and a counter), and each reply
// must carry that nonce back: a responder cannot answer from a cache.
// -lean replaces net/http's client by a minimal HTTP/1.1 one (a keep-alive
// connection per worker, the request written in one call, the answer read
// by Content-Length), as wrk does: on a small machine the client's CPU
// otherwise takes cores from the server it measures.
// -cpu adds a ninth column: loadgen's own CPU milliseconds over the
// measured requests (so a benchmark can tell the client's share apart).
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
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
	"runtime/pprof"
	"slices"
	"strconv"
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
	freshNonce := flag.Bool("fresh-nonce", false, "with -ocsp: a new nonce in every request, which the reply must echo")
	selfCPU := flag.Bool("cpu", false, "print loadgen's own CPU milliseconds as a ninth column")
	lean := flag.Bool("lean", false, "a minimal HTTP/1.1 client: one keep-alive connection per worker, one write and one read per request")
	cpuProfile := flag.String("cpuprofile", "", "write loadgen's own CPU profile here (where the client's share of the cores goes)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -cpuprofile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *freshNonce && (!*isOCSP || *useGET || *command != "") {
		fmt.Fprintln(os.Stderr, "loadgen: -fresh-nonce needs -ocsp and a POST")
		os.Exit(2)
	}
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
	if err := run(*name, *target, *bodyFile, *ctype, check, *useGET, *freshNonce, *selfCPU, *lean, *command, *n, *c, *warm, *maxDur); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(name, target, bodyFile, ctype string, check func([]byte) error, useGET, freshNonce, selfCPU, lean bool, command string, n, c, warm int, maxDur time.Duration) error {
	if n <= 0 || c <= 0 {
		return errors.New("-n and -c must be positive")
	}
	var op func(ctx context.Context, w int) error
	if command != "" {
		op = func(ctx context.Context, _ int) error {
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
		var nonces *nonceSource
		if freshNonce {
			if nonces, err = newNonceSource(body); err != nil {
				return err
			}
		}
		u, err := url.Parse(target)
		if err != nil {
			return err
		}
		getPath := u.EscapedPath() + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(body))
		conns := make([]*leanConn, c)
		op = func(ctx context.Context, w int) error {
			var req *http.Request
			var err error
			send, nonce := body, []byte(nil)
			if nonces != nil {
				send, nonce = nonces.next()
			}
			if lean {
				if conns[w] == nil {
					conns[w] = &leanConn{addr: u.Host, host: u.Host, deadline: time.Now().Add(maxDur + 30*time.Second)}
				}
				var reply []byte
				if useGET {
					reply, err = conns[w].do(http.MethodGet, getPath, "", nil)
				} else {
					reply, err = conns[w].do(http.MethodPost, cmp.Or(u.EscapedPath(), "/"), ctype, send)
				}
				if err != nil {
					return err
				}
				if err := check(reply); err != nil {
					return err
				}
				if nonce != nil && !bytes.Contains(reply, nonce) {
					return errors.New("the reply does not echo the request's nonce")
				}
				return nil
			}
			if useGET {
				req, err = http.NewRequestWithContext(ctx, http.MethodGet, getURL, nil)
			} else {
				req, err = http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(send))
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
			if err := check(reply); err != nil {
				return err
			}
			// The nonce is 8 random bytes and a counter: found in the reply,
			// it was echoed (in the signed ResponseData; a cached answer
			// cannot hold it).
			if nonce != nil && !bytes.Contains(reply, nonce) {
				return errors.New("the reply does not echo the request's nonce")
			}
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	for i := 0; i < warm; i++ {
		if err := op(ctx, i%c); err != nil {
			return fmt.Errorf("%s: warm-up request: %w", name, err)
		}
	}
	var ru0, self0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
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
				if err := op(ctx, w); err != nil {
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
	var self1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
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
	ms := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec)*1e3 + float64(r.Utime.Usec+r.Stime.Usec)/1e3
	}
	if command != "" {
		var ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
		fmt.Printf("\t%.0f", ms(ru1)-ms(ru0))
	} else if selfCPU {
		fmt.Printf("\t%.0f", ms(self1)-ms(self0))
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

// nonceSource makes OCSP requests from a template whose nonce is replaced
// by a new one each time: 8 random bytes of this run, then a counter (the
// rest of a longer nonce stays as in the template).
type nonceSource struct {
	body []byte
	at   int // offset of the nonce's octets in body
	n    atomic.Uint64
}

func newNonceSource(body []byte) (*nonceSource, error) {
	nonce, err := requestNonce(body)
	if err != nil {
		return nil, err
	}
	if len(nonce) < 16 {
		return nil, fmt.Errorf("-fresh-nonce: the body's nonce has %d octets, want at least 16", len(nonce))
	}
	at := bytes.Index(body, nonce)
	if at < 0 || bytes.Index(body[at+1:], nonce) >= 0 {
		return nil, errors.New("-fresh-nonce: cannot place the nonce in the body")
	}
	s := &nonceSource{body: body, at: at}
	s.body = append([]byte(nil), body...)
	if _, err := rand.Read(s.body[at : at+8]); err != nil {
		return nil, err
	}
	return s, nil
}

// next returns a new request and its nonce's first 16 octets.
func (s *nonceSource) next() (req, nonce []byte) {
	req = append([]byte(nil), s.body...)
	binary.BigEndian.PutUint64(req[s.at+8:], s.n.Add(1))
	return req, req[s.at : s.at+16]
}

// requestNonce returns the octets of an OCSPRequest's nonce extension.
func requestNonce(der []byte) ([]byte, error) {
	var r struct {
		TBS struct {
			Version   asn1.RawValue `asn1:"optional,explicit,tag:0"`
			Requestor asn1.RawValue `asn1:"optional,explicit,tag:1"`
			List      asn1.RawValue
			Exts      []struct {
				ID       asn1.ObjectIdentifier
				Critical bool `asn1:"optional"`
				Value    []byte
			} `asn1:"optional,explicit,tag:2"`
		}
		Sig asn1.RawValue `asn1:"optional,explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &r); err != nil {
		return nil, fmt.Errorf("-fresh-nonce: the body is not an OCSPRequest: %w", err)
	}
	for _, e := range r.TBS.Exts {
		if e.ID.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}) {
			var nonce []byte
			if _, err := asn1.Unmarshal(e.Value, &nonce); err != nil {
				return nil, fmt.Errorf("-fresh-nonce: nonce: %w", err)
			}
			return nonce, nil
		}
	}
	return nil, errors.New("-fresh-nonce: the body has no nonce")
}

// leanConn is one worker's keep-alive HTTP/1.1 connection for -lean.
type leanConn struct {
	addr, host string
	deadline   time.Time
	conn       net.Conn
	r          *bufio.Reader
	buf        []byte
}

// do sends one request and returns the body of a 200 answer. The
// connection is dialled again after an answer that closes it or a failure.
func (l *leanConn) do(method, path, ctype string, body []byte) ([]byte, error) {
	if l.conn == nil {
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(l.deadline)
		l.conn, l.r = c, bufio.NewReaderSize(c, 16<<10)
	}
	b := append(l.buf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.host...)
	b = append(b, "\r\nUser-Agent: muhr-loadgen\r\n"...)
	if body != nil {
		b = append(b, "Content-Type: "...)
		b = append(b, ctype...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	l.buf = b
	reply, closeAfter, err := l.exchange(b)
	if err != nil || closeAfter {
		l.conn.Close()
		l.conn = nil
	}
	return reply, err
}

func (l *leanConn) exchange(req []byte) (reply []byte, closeAfter bool, err error) {
	if _, err := l.conn.Write(req); err != nil {
		return nil, true, err
	}
	status, err := l.r.ReadSlice('\n')
	if err != nil {
		return nil, true, err
	}
	ok := bytes.HasPrefix(status, []byte("HTTP/1.1 200")) || bytes.HasPrefix(status, []byte("HTTP/1.0 200"))
	closeAfter = bytes.HasPrefix(status, []byte("HTTP/1.0"))
	statusLine := string(bytes.TrimSpace(status))
	length := -1
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return nil, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return nil, true, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			closeAfter = true
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return nil, true, errors.New("-lean reads Content-Length answers only")
		}
	}
	if length < 0 { // the body ends with the connection (openssl ocsp)
		if reply, err = io.ReadAll(l.r); err != nil {
			return nil, true, err
		}
		closeAfter = true
	} else {
		reply = make([]byte, length)
		if _, err := io.ReadFull(l.r, reply); err != nil {
			return nil, true, err
		}
	}
	if !ok {
		return nil, closeAfter, fmt.Errorf("HTTP %s", statusLine)
	}
	return reply, closeAfter, nil
}
