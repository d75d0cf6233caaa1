package delegationstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrKEKFileMode: the KEK file is readable or writable by users it should
// not be (like ssh with a private key, litsignd refuses to use it).
var ErrKEKFileMode = errors.New("KEK file permissions are too open")

// checkKEKFileMode refuses a KEK file that others can access, or that is
// group-accessible although litsignd's own user owns it (then 0600 or 0400
// is the right mode). A file owned by another user (root, as Kubernetes
// mounts a Secret) may be group-readable: that group is how litsignd reads
// it; it must still not be group-writable.
func checkKEKFileMode(path string, fi fs.FileInfo) error {
	mode := fi.Mode().Perm()
	own := true
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		own = int(st.Uid) == os.Geteuid()
	}
	bad := mode&0o007 != 0 || mode&0o020 != 0 || (own && mode&0o070 != 0)
	if bad {
		return fmt.Errorf("%w: %s has mode %04o; chmod 600 it (or 0440 owned by root and litsignd's group)", ErrKEKFileMode, path, mode)
	}
	return nil
}
