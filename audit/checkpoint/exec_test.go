package checkpoint_test

import (
	"os/exec"
	"strconv"
)

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
