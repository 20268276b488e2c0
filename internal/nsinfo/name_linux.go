package nsinfo

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// netnsDirs are where `ip netns` binds the namespaces it names (/var/run
// is a link to /run on current systems; both are tried).
var netnsDirs = []string{"/run/netns", "/var/run/netns"}

// threadNamespaceName names the calling thread's network namespace as the
// metrics do: the name `ip netns` gave it, when one of the files it binds
// is this namespace (nsfs gives every namespace one inode), otherwise
// "net:[INODE]", the target of the /proc/PID/ns/net link that lsns(8) and
// ip(8) show. "" when it cannot be told.
func threadNamespaceName() string {
	var self unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return ""
	}
	for _, dir := range netnsDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			var st unix.Stat_t
			if unix.Stat(dir+"/"+e.Name(), &st) == nil && st.Dev == self.Dev && st.Ino == self.Ino {
				return e.Name()
			}
		}
	}
	return "net:[" + strconv.FormatUint(self.Ino, 10) + "]"
}
