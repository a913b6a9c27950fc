//! Inode numbers for the nodes the kernel knows, counted by lookups so the table shrinks as
//! the kernel forgets (its size follows the kernel's inode cache, not the drive's size).

use std::collections::HashMap;

/// A drive key.
pub(crate) type Key = [u8; 32];

/// One of the two generated files of `Network/Stats/<key>/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StatsFile {
    /// `networking.json`.
    Networking,
    /// `storage.json`.
    Storage,
}

impl StatsFile {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StatsFile::Networking => "networking.json",
            StatsFile::Storage => "storage.json",
        }
    }
}

/// What an inode stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    /// A path of the root drive (`/` is the mountpoint itself).
    Root(String),
    /// `Network/`.
    Network,
    /// `Network/Active/`.
    Active,
    /// `Network/Active/<key>.json`, a symlink to the key's `networking.json`.
    ActiveLink(Key),
    /// `Network/Stats/`.
    Stats,
    /// `Network/Stats/<key>/`.
    StatsDir(Key),
    /// `Network/Stats/<key>/<file>`.
    StatsFile(Key, StatsFile),
    /// A path of `Network/<key>[+<version>]/`.
    Remote {
        /// The drive.
        key: Key,
        /// A checkout's version.
        version: Option<u64>,
        /// The path inside the drive.
        path: String,
    },
    /// A node removed while the kernel still holds its inode (an open file that was
    /// unlinked or renamed over): reachable through open handles only.
    Gone(u64),
}

/// The root directory's inode number (FUSE's).
pub(crate) const ROOT_INO: u64 = 1;

#[derive(Debug)]
struct Entry {
    node: Node,
    lookups: u64,
}

/// The inode table.
#[derive(Debug)]
pub(crate) struct Inodes {
    by_ino: HashMap<u64, Entry>,
    by_node: HashMap<Node, u64>,
    next: u64,
}

impl Default for Inodes {
    fn default() -> Self {
        let root = Node::Root("/".to_owned());
        let mut inodes = Inodes {
            by_ino: HashMap::new(),
            by_node: HashMap::new(),
            next: ROOT_INO + 1,
        };
        inodes.by_ino.insert(
            ROOT_INO,
            Entry {
                node: root.clone(),
                lookups: 1,
            },
        );
        inodes.by_node.insert(root, ROOT_INO);
        inodes
    }
}

/// `parent` joined with `name` (`/` + name at the top).
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// `path` with `from` (itself or a directory above it) replaced by `to`.
fn moved(path: &str, from: &str, to: &str) -> Option<String> {
    if path == from {
        return Some(to.to_owned());
    }
    path.strip_prefix(from)
        .filter(|rest| rest.starts_with('/'))
        .map(|rest| format!("{to}{rest}"))
}

impl Inodes {
    /// The node of `ino`.
    pub(crate) fn node(&self, ino: u64) -> Option<Node> {
        self.by_ino.get(&ino).map(|e| e.node.clone())
    }

    /// The inode of `node` if the kernel knows it.
    pub(crate) fn peek(&self, node: &Node) -> Option<u64> {
        self.by_node.get(node).copied()
    }

    /// The inode of `node`, counting one more lookup by the kernel.
    pub(crate) fn lookup(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            if let Some(e) = self.by_ino.get_mut(&ino) {
                e.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_ino.insert(
            ino,
            Entry {
                node: node.clone(),
                lookups: 1,
            },
        );
        self.by_node.insert(node, ino);
        ino
    }

    /// The kernel dropped `n` lookups of `ino`; at zero the inode is gone.
    pub(crate) fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let Some(e) = self.by_ino.get_mut(&ino) else {
            return;
        };
        e.lookups = e.lookups.saturating_sub(n);
        if e.lookups == 0
            && let Some(e) = self.by_ino.remove(&ino)
            && self.by_node.get(&e.node) == Some(&ino)
        {
            self.by_node.remove(&e.node);
        }
    }

    /// The root-drive node at `path` was removed: its inode (if any) now stands for nothing
    /// but its open handles. Returns that inode.
    pub(crate) fn remove(&mut self, node: &Node) -> Option<u64> {
        let ino = self.by_node.remove(node)?;
        if let Some(e) = self.by_ino.get_mut(&ino) {
            e.node = Node::Gone(ino);
        }
        Some(ino)
    }

    /// Root-drive paths under `from` (itself included) moved to `to`.
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        let moving: Vec<(Node, u64, String)> = self
            .by_node
            .iter()
            .filter_map(|(node, &ino)| match node {
                Node::Root(p) => moved(p, from, to).map(|new| (node.clone(), ino, new)),
                _ => None,
            })
            .collect();
        for (old, ino, new) in moving {
            self.by_node.remove(&old);
            let node = Node::Root(new);
            if let Some(e) = self.by_ino.get_mut(&ino) {
                e.node = node.clone();
            }
            self.by_node.insert(node, ino);
        }
    }

    /// The root-drive nodes `a` and `b` swapped places (`RENAME_EXCHANGE`).
    pub(crate) fn exchange(&mut self, a: &str, b: &str) {
        let (na, nb) = (Node::Root(a.to_owned()), Node::Root(b.to_owned()));
        let ia = self.by_node.remove(&na);
        let ib = self.by_node.remove(&nb);
        if let Some(ino) = ia {
            if let Some(e) = self.by_ino.get_mut(&ino) {
                e.node = nb.clone();
            }
            self.by_node.insert(nb, ino);
        }
        if let Some(ino) = ib {
            if let Some(e) = self.by_ino.get_mut(&ino) {
                e.node = na.clone();
            }
            self.by_node.insert(na, ino);
        }
    }

    /// The open inodes whose root-drive path is `path` or under it.
    pub(crate) fn under(&self, path: &str) -> Vec<u64> {
        self.by_node
            .iter()
            .filter_map(|(node, &ino)| match node {
                Node::Root(p) if moved(p, path, path).is_some() => Some(ino),
                _ => None,
            })
            .collect()
    }

    /// How many inodes the table holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_ino.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgotten_inodes_leave_the_table() {
        let mut t = Inodes::default();
        let a = t.lookup(Node::Root("/a".into()));
        assert_eq!(t.lookup(Node::Root("/a".into())), a);
        t.forget(a, 1);
        assert_eq!(t.node(a), Some(Node::Root("/a".into())));
        t.forget(a, 1);
        assert_eq!(t.node(a), None);
        assert_eq!(t.len(), 1, "only the root is left");
        t.forget(ROOT_INO, 10);
        assert!(t.node(ROOT_INO).is_some(), "the root stays");
    }

    #[test]
    fn a_rename_moves_the_subtree() {
        let mut t = Inodes::default();
        let d = t.lookup(Node::Root("/d".into()));
        let f = t.lookup(Node::Root("/d/f".into()));
        let other = t.lookup(Node::Root("/dx".into()));
        t.rename("/d", "/e");
        assert_eq!(t.node(d), Some(Node::Root("/e".into())));
        assert_eq!(t.node(f), Some(Node::Root("/e/f".into())));
        assert_eq!(t.node(other), Some(Node::Root("/dx".into())));
        assert_eq!(t.peek(&Node::Root("/e/f".into())), Some(f));
        assert_eq!(t.under("/e").len(), 2);
    }

    #[test]
    fn an_exchange_swaps_two_inodes() {
        let mut t = Inodes::default();
        let a = t.lookup(Node::Root("/a".into()));
        let b = t.lookup(Node::Root("/b".into()));
        t.exchange("/a", "/b");
        assert_eq!(t.node(a), Some(Node::Root("/b".into())));
        assert_eq!(t.node(b), Some(Node::Root("/a".into())));
        assert_eq!(t.peek(&Node::Root("/a".into())), Some(b));
    }

    #[test]
    fn a_removed_node_keeps_its_inode_for_its_handles() {
        let mut t = Inodes::default();
        let a = t.lookup(Node::Root("/a".into()));
        assert_eq!(t.remove(&Node::Root("/a".into())), Some(a));
        assert_eq!(t.node(a), Some(Node::Gone(a)));
        let b = t.lookup(Node::Root("/a".into()));
        assert_ne!(a, b, "a new file at the name is a new inode");
    }
}
