package proc

import (
	"strings"
	"testing"
)

const (
	id1    = "4c2f1a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a10"
	id2    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	podUID = "8b2e2a4c-1f1e-4b9a-9c1d-7d2b8f0e6a11"
	podSD  = "8b2e2a4c_1f1e_4b9a_9c1d_7d2b8f0e6a11" // the systemd driver's form
)

func TestContainerID(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		// docker
		{"docker systemd", "/system.slice/docker-" + id1 + ".scope", id1},
		{"docker cgroupfs", "/docker/" + id1, id1},
		{"docker rootless", "/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" + id1 + ".scope", id1},
		{"docker with systemd inside", "/system.slice/docker-" + id1 + ".scope/init.scope", id1},
		{"docker in docker", "/docker/" + id1 + "/docker/" + id2, id2},
		{"docker in docker, outer process", "/docker/" + id1 + "/docker", id1},

		// containerd (CRI), systemd driver
		{"containerd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope", id1},
		{"containerd besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope", id1},
		{"containerd guaranteed", "/kubepods.slice/kubepods-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope", id1},
		{"pod slice without container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice", ""},

		// kubelet, cgroupfs driver (containerd, docker via cri-dockerd)
		{"cgroupfs burstable", "/kubepods/burstable/pod" + podUID + "/" + id1, id1},
		{"cgroupfs besteffort", "/kubepods/besteffort/pod" + podUID + "/" + id1, id1},
		{"cgroupfs guaranteed", "/kubepods/pod" + podUID + "/" + id1, id1},
		{"cgroupfs pod without container", "/kubepods/burstable/pod" + podUID, ""},

		// CRI-O
		{"crio burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice/crio-" + id1 + ".scope", id1},
		{"crio guaranteed", "/kubepods.slice/kubepods-pod" + podSD + ".slice/crio-" + id1 + ".scope", id1},
		{"crio container subgroup", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/crio-" + id1 + ".scope/container", id1},
		{"crio conmon", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice/crio-conmon-" + id1 + ".scope", ""},
		{"crio cgroupfs", "/kubepods/burstable/pod" + podUID + "/crio-" + id1, id1},
		{"crio cgroupfs conmon", "/kubepods/burstable/pod" + podUID + "/crio-conmon-" + id1, ""},

		// podman
		{"podman systemd", "/machine.slice/libpod-" + id1 + ".scope", id1},
		{"podman container subgroup", "/machine.slice/libpod-" + id1 + ".scope/container", id1},
		{"podman conmon", "/machine.slice/libpod-conmon-" + id1 + ".scope", ""},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope", id1},
		{"podman cgroupfs", "/libpod_parent/libpod-" + id1, id1},
		{"podman conmon inside docker", "/docker/" + id1 + "/libpod-conmon-" + id2 + ".scope", id1},

		// no container
		{"empty", "", ""},
		{"root", "/", ""},
		{"init", "/init.scope", ""},
		{"service", "/system.slice/sshd.service", ""},
		{"session", "/user.slice/user-1000.slice/session-3.scope", ""},
		{"uppercase hex", "/docker/" + strings.ToUpper(id1), ""},
		{"63 hex", "/docker/" + id1[:63], ""},
		{"65 hex", "/docker/" + id1 + "0", ""},
		{"id not after a dash", "/system.slice/docker" + id1 + ".scope", ""},
		{"bare dash prefix", "/-" + id1, ""},
		{"relative", "docker-" + id1 + ".scope", id1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainerID(tt.path); got != tt.want {
				t.Errorf("ContainerID(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func FuzzContainerID(f *testing.F) {
	f.Add("/system.slice/docker-" + id1 + ".scope")
	f.Add("/kubepods/burstable/pod" + podUID + "/" + id1)
	f.Add("/machine.slice/libpod-conmon-" + id1 + ".scope")
	f.Add("/")
	f.Fuzz(func(t *testing.T, path string) {
		id := ContainerID(path)
		if id == "" {
			return
		}
		if len(id) != containerIDLen || !isLowerHex(id) || !strings.Contains(path, id) {
			t.Fatalf("ContainerID(%q) = %q", path, id)
		}
	})
}
