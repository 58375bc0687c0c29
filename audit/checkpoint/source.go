package checkpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Source is where a verifier reads checkpoints from: a Dir, or the
// operations listener of a muhrd (HTTPSource).
type Source interface {
	// Checkpoints returns every checkpoint, ascending by number. A file
	// that cannot be read or parsed is an error naming it.
	Checkpoints(ctx context.Context) ([]*File, error)
	String() string
}

// Checkpoints reads every file of the directory.
func (d Dir) Checkpoints(context.Context) ([]*File, error) {
	ns, err := d.Numbers()
	if err != nil {
		return nil, err
	}
	out := make([]*File, 0, len(ns))
	for _, n := range ns {
		f, err := d.Load(n)
		if err != nil {
			return nil, fmt.Errorf("checkpoint dir %s: %w", d.Path, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (d Dir) String() string { return d.Path }

// HTTPSource reads checkpoints from GET BASE/audit/checkpoints (BASE is the
// operations listener, e.g. http://127.0.0.1:9090).
type HTTPSource struct {
	Base   string
	Client *http.Client
}

func (h HTTPSource) String() string { return h.Base }

func (h HTTPSource) get(ctx context.Context, path string) ([]byte, error) {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	url := strings.TrimRight(h.Base, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// Checkpoints lists the numbers, then fetches each file.
func (h HTTPSource) Checkpoints(ctx context.Context) ([]*File, error) {
	b, err := h.get(ctx, "/audit/checkpoints")
	if err != nil {
		return nil, err
	}
	var list listing
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("GET %s/audit/checkpoints: %w", h.Base, err)
	}
	out := make([]*File, 0, len(list.Checkpoints))
	for _, e := range list.Checkpoints {
		b, err := h.get(ctx, "/audit/checkpoints/"+strconv.FormatInt(e.Number, 10))
		if err != nil {
			return nil, err
		}
		f, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d from %s: %w", e.Number, h.Base, err)
		}
		if f.Number != e.Number {
			return nil, fmt.Errorf("checkpoint %d from %s: %w: it says it is checkpoint %d", e.Number, h.Base, ErrInvalid, f.Number)
		}
		out = append(out, f)
	}
	return out, nil
}

// listing is GET /audit/checkpoints.
type listing struct {
	Checkpoints []listed `json:"checkpoints"`
}

type listed struct {
	Number int64     `json:"number"`
	Seq    int64     `json:"seq"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
	File   string    `json:"file"`
}

// Handler serves the directory on the operations listener: GET
// /audit/checkpoints (the list), /audit/checkpoints/latest and
// /audit/checkpoints/{number} (the files as written).
type Handler struct{ Dir Dir }

// List answers GET /audit/checkpoints.
func (h Handler) List(w http.ResponseWriter, _ *http.Request) {
	files, err := h.Dir.Checkpoints(context.Background())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	l := listing{Checkpoints: []listed{}}
	for _, f := range files {
		l.Checkpoints = append(l.Checkpoints, listed{Number: f.Number, Seq: f.Seq, Hash: f.Hash, Time: f.Time, File: fileName(f.Number)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l)
}

// One answers GET /audit/checkpoints/{number} and .../latest.
func (h Handler) One(w http.ResponseWriter, r *http.Request) {
	arg := r.PathValue("number")
	var n int64
	if arg == "latest" {
		ns, err := h.Dir.Numbers()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(ns) == 0 {
			http.Error(w, "no checkpoint written yet", http.StatusNotFound)
			return
		}
		n = ns[len(ns)-1]
	} else {
		var err error
		if n, err = strconv.ParseInt(arg, 10, 64); err != nil || n <= 0 {
			http.Error(w, fmt.Sprintf("checkpoint %q: want a number (1, 2, ...) or latest", arg), http.StatusBadRequest)
			return
		}
	}
	b, err := h.Dir.Read(n)
	if err != nil {
		http.Error(w, fmt.Sprintf("no checkpoint %d", n), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
