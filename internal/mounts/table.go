package mounts

import (
	"cmp"
	"slices"
	"strings"
)

// Table is a mount table indexed for HostPath.
type Table struct {
	mounts []Mount
	// byDev lists, for each file system, its mounts by increasing length
	// of their root (the whole file system first), then table order.
	byDev map[Dev][]int
	// children maps a mount and a mount point to the mount on it (the
	// last one in table order: the one on top when mounts were stacked
	// there from the same parent).
	children map[childKey]int
	// root is the mount at "/" whose parent is not in the table: where
	// path resolution starts. -1 when there is none.
	root int
}

type childKey struct {
	parent int
	point  string
}

// NewTable indexes mounts, as Parse returned them (table order matters:
// it is mount order).
func NewTable(mounts []Mount) *Table {
	t := &Table{
		mounts:   mounts,
		byDev:    make(map[Dev][]int),
		children: make(map[childKey]int, len(mounts)),
		root:     -1,
	}
	ids := make(map[int]bool, len(mounts))
	for _, m := range mounts {
		ids[m.ID] = true
	}
	for i, m := range mounts {
		t.byDev[m.Dev] = append(t.byDev[m.Dev], i)
		if m.MountPoint == "/" && !ids[m.ParentID] {
			if t.root < 0 {
				t.root = i
			}
			continue
		}
		t.children[childKey{m.ParentID, m.MountPoint}] = i
	}
	for _, idx := range t.byDev {
		slices.SortStableFunc(idx, func(a, b int) int {
			return cmp.Compare(len(t.mounts[a].Root), len(t.mounts[b].Root))
		})
	}
	return t
}

// Mounts returns the table's mounts, in table order.
func (t *Table) Mounts() []Mount { return t.mounts }

// TreeRoot is the id of the mount at the root of the mount tree: the
// parent of the "/" mount, which is not itself listed (the kernel's rootfs,
// or whatever the namespace's first mount is). Every path walk in this
// mount namespace ends there.
func (t *Table) TreeRoot() (int, bool) {
	if t.root < 0 {
		return 0, false
	}
	return t.mounts[t.root].ParentID, true
}

// RootID is the id of the "/" mount (the one on the tree's root): the
// mount a process's root is on unless it is chrooted or in another mount
// namespace.
func (t *Table) RootID() (int, bool) {
	if t.root < 0 {
		return 0, false
	}
	return t.mounts[t.root].ID, true
}

// HostPath returns the path at which this table's namespace sees the file
// at path p (absolute, "/"-separated, no "." or ".." components) within the
// file system with device dev, and whether there is one. Of several, it
// prefers the mount showing the most of the file system (the shortest
// root), then the shortest path.
func (t *Table) HostPath(dev Dev, p string) (string, bool) {
	if t.root < 0 || !strings.HasPrefix(p, "/") {
		return "", false
	}
	best, found := "", false
	bestRoot := -1
	for _, i := range t.byDev[dev] {
		m := &t.mounts[i]
		if found && len(m.Root) > bestRoot {
			break // byDev is sorted by root length
		}
		rest, ok := below(p, m.Root)
		if !ok {
			continue
		}
		host := join(m.MountPoint, rest)
		if t.resolve(host) != i {
			continue // something else is mounted on the way
		}
		if !found || len(host) < len(best) {
			best, found, bestRoot = host, true, len(m.Root)
		}
	}
	return best, found
}

// below returns p relative to dir ("" for dir itself, else starting with
// "/") when p is dir or inside it.
func below(p, dir string) (string, bool) {
	if dir == "/" {
		if p == "/" {
			return "", true
		}
		return p, true
	}
	rest, ok := strings.CutPrefix(p, dir)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

func join(point, rest string) string {
	if point == "/" {
		if rest == "" {
			return "/"
		}
		return rest
	}
	return point + rest
}

// resolve returns the index of the mount that path p (absolute, clean,
// with no symbolic links) ends in, as the kernel's path walk would find it
// crossing mount points: from the root mount, at each prefix of p, step
// onto the mount on it (and onto mounts stacked on that one).
func (t *Table) resolve(p string) int {
	cur := t.descend(t.root, "/")
	if p == "/" {
		return cur
	}
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			cur = t.descend(cur, p[:i])
		}
	}
	return cur
}

func (t *Table) descend(cur int, point string) int {
	for range len(t.mounts) { // bounded: a malformed table must not loop
		next, ok := t.children[childKey{t.mounts[cur].ID, point}]
		if !ok || next == cur {
			return cur
		}
		cur = next
	}
	return cur
}

// Mount returns the mount with the given id.
func (t *Table) Mount(id int) (Mount, bool) {
	for _, m := range t.mounts {
		if m.ID == id {
			return m, true
		}
	}
	return Mount{}, false
}
