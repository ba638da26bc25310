//go:build unix

package collector

import "golang.org/x/sys/unix"

// fdLimit is the process's soft RLIMIT_NOFILE.
func fdLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return uint64(rl.Cur), nil
}
