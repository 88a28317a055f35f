package proc

import "strings"

// containerIDLen is the length of a container id in hex characters.
const containerIDLen = 64

// ContainerID returns the container id carried by a cgroup v2 path, or "" when
// the path carries none. The id is that of the innermost path component that
// carries one, so a container nested in another yields the inner id.
//
// A component carries an id when it is 64 lowercase hex characters, bare or
// after a runtime prefix ending in '-', with an optional ".scope" suffix:
//
//	/docker/<id>                                      docker, cgroupfs driver
//	/system.slice/docker-<id>.scope                   docker, systemd driver
//	/kubepods/burstable/pod<uid>/<id>                 kubelet, cgroupfs driver
//	/kubepods.slice/.../cri-containerd-<id>.scope     containerd (CRI), systemd driver
//	/kubepods.slice/.../crio-<id>.scope               CRI-O
//	/machine.slice/libpod-<id>.scope                  podman
//
// The conmon monitors of CRI-O and podman (crio-conmon-<id>.scope,
// libpod-conmon-<id>.scope) run outside the container and carry no id.
func ContainerID(cgroupPath string) string {
	p := cgroupPath
	for p != "" {
		var component string
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			component, p = p[i+1:], p[:i]
		} else {
			component, p = p, ""
		}
		if id := componentID(component); id != "" {
			return id
		}
	}
	return ""
}

// componentID returns the container id of one cgroup path component, or "".
func componentID(c string) string {
	c = strings.TrimSuffix(c, ".scope")
	if len(c) < containerIDLen {
		return ""
	}
	prefix, id := c[:len(c)-containerIDLen], c[len(c)-containerIDLen:]
	if !isLowerHex(id) {
		return ""
	}
	switch {
	case prefix == "":
		return id
	case len(prefix) < 2 || prefix[len(prefix)-1] != '-':
		return ""
	case strings.HasSuffix(prefix, "conmon-"):
		return ""
	}
	return id
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
