package secret

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func write(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod, not WriteFile's mode: the umask would clear group bits.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, content, want string
		mode                os.FileMode
	}{
		{"lf", "s3cret\n", "s3cret", 0o600},
		{"crlf", "s3cret\r\n", "s3cret", 0o400},
		{"none", "s3 cret", "s3 cret", 0o600},
		{"inner newline kept", "a\nb\n", "a\nb", 0o600},
	} {
		got, err := ReadFile(write(t, dir, c.name, c.content, c.mode))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: ReadFile = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	// A link is followed and its target judged.
	target := write(t, dir, "target", "via-link\n", 0o400)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(link); err != nil || string(got) != "via-link" {
		t.Errorf("symlink to a 0400 file: %q, %v", got, err)
	}
	if _, err := ReadFile(""); !errors.Is(err, ErrFile) {
		t.Errorf("empty path: %v", err)
	}
}

func TestReadFileRefusals(t *testing.T) {
	dir := t.TempDir()
	open := write(t, dir, "group", "leaky-secret", 0o640)
	other := write(t, dir, "other", "leaky-secret", 0o604)
	writable := write(t, dir, "groupw", "leaky-secret", 0o620)
	linkToOpen := filepath.Join(dir, "link-open")
	if err := os.Symlink(open, linkToOpen); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := write(t, dir, "big", strings.Repeat("x", MaxSize+1), 0o600)
	maxOK := write(t, dir, "max", strings.Repeat("x", MaxSize), 0o600)
	if got, err := ReadFile(maxOK); err != nil || len(got) != MaxSize {
		t.Errorf("file of MaxSize: %d bytes, %v", len(got), err)
	}
	unreadable := write(t, dir, "unreadable", "x", 0o000)

	cases := []struct {
		name, path, says string
	}{
		{"mode 0640", open, "mode 0640"},
		{"mode 0604", other, "mode 0604"},
		{"mode 0620", writable, "mode 0620"},
		{"link to 0640", linkToOpen, "chmod 600 " + linkToOpen},
		{"dangling link", dangling, "does not exist"},
		{"missing", filepath.Join(dir, "missing"), "does not exist"},
		{"directory", dir, "not a regular file (a directory)"},
		{"fifo", fifo, "not a regular file (a named pipe)"},
		{"socket", sock, "not a regular file (a socket)"},
		{"device", "/dev/null", "not a regular file (a device)"},
		{"too big", big, "larger than 4096 bytes"},
		{"empty", write(t, dir, "empty", "\n", 0o600), "empty"},
	}
	if os.Geteuid() != 0 { // root reads a mode 0000 file
		cases = append(cases, struct{ name, path, says string }{"unreadable", unreadable, "permission denied"})
	}
	for _, c := range cases {
		_, err := ReadFile(c.path)
		if !errors.Is(err, ErrFile) {
			t.Errorf("%s: error %v is not ErrFile", c.name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.path) || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %q does not name %s and say %q", c.name, msg, c.path, c.says)
		}
		if strings.Contains(msg, "leaky-secret") {
			t.Errorf("%s: error shows the secret: %q", c.name, msg)
		}
	}
	// The fix is spelled out for the mode refusal.
	if _, err := ReadFile(open); err == nil || !strings.Contains(err.Error(), "run: chmod 600 "+open) {
		t.Errorf("mode refusal without the fix: %v", err)
	}
}

func TestCheckOwner(t *testing.T) {
	// A file owned by someone else (not root) is refused even with mode 0600:
	// fake the owner, as tests cannot chown.
	fi, err := os.Stat(write(t, t.TempDir(), "f", "x", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	st := *fi.Sys().(*syscall.Stat_t)
	st.Uid = uint32(os.Geteuid()) + 4242
	err = check(fakeInfo{fi, &st}, "/etc/muhr/pin")
	if err == nil || !strings.Contains(err.Error(), "owned by uid") || !strings.Contains(err.Error(), "chown") {
		t.Errorf("foreign owner: %v", err)
	}
	st.Uid = 0
	if err := check(fakeInfo{fi, &st}, "/etc/muhr/pin"); err != nil {
		t.Errorf("root-owned file refused: %v", err)
	}
}

type fakeInfo struct {
	os.FileInfo
	st *syscall.Stat_t
}

func (f fakeInfo) Sys() any { return f.st }
