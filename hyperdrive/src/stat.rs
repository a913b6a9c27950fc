//! [`Stat`]: the value of every file, directory, symlink and mount node (hyperdrive-schemas
//! 2.0.0, docs/formats.md §5.3).

use std::collections::HashMap;

use crate::proto::{Fields, Value, put_bytes, put_uint, put_varint};

/// File type bits of [`Stat::mode`] and the defaults hyperdrive applies.
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u32 = 0o170_000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140_000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120_000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100_000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060_000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040_000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020_000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010_000;
    /// Permission bits of a new file or symlink (`rw-r--r--`).
    pub const DEFAULT_FILE: u32 = 0o644;
    /// Permission bits of a new directory (`rwxr-xr-x`).
    pub const DEFAULT_DIR: u32 = 0o755;
}

/// The `mount` field of a [`Stat`]: what a mount point mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatMount {
    /// Public key of the mounted drive's metadata feed, or of the mounted hypercore.
    pub key: [u8; 32],
    /// Pinned version (JS writes the field whenever the object has it, 0 included).
    pub version: Option<u64>,
    /// Unused by hyperdrive 10; kept so a Stat re-encodes to the same bytes.
    pub hash: Option<Vec<u8>>,
    /// A plain hypercore mounted as a file rather than a drive.
    pub hypercore: bool,
}

impl StatMount {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, 1, &self.key);
        if let Some(version) = self.version {
            put_uint(out, 2, version);
        }
        if let Some(hash) = &self.hash {
            put_bytes(out, 3, hash);
        }
        // JS always has the boolean, so it is always written.
        put_uint(out, 4, u64::from(self.hypercore));
    }

    fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut key = None;
        // JS decoding fills `version: 0`, which a re-encode then writes.
        let mut mount = StatMount {
            key: [0; 32],
            version: Some(0),
            hash: None,
            hypercore: false,
        };
        for field in Fields::new(buf) {
            match field? {
                (1, Value::Bytes(b)) => {
                    key = Some(<[u8; 32]>::try_from(b).map_err(|_| "mount key is not 32 bytes")?)
                }
                (2, Value::Varint(v)) => mount.version = Some(v),
                (3, Value::Bytes(b)) => mount.hash = Some(b.to_vec()),
                (4, Value::Varint(v)) => mount.hypercore = v != 0,
                (1..=4, _) => return Err("mount field of the wrong type"),
                _ => {}
            }
        }
        mount.key = key.ok_or("mount without a key")?;
        Ok(mount)
    }
}

/// Per-file metadata (xattr-like), in the order JS objects keep their keys.
///
/// Most metadata entries a Stat we read may hold. JS sets no limit, but entries are what a user
/// set by hand on one file; without a cap one 8 MiB block of tiny entries would decode into
/// millions of strings.
pub(crate) const MAX_METADATA_ENTRIES: usize = 4096;

/// A removed key stays listed with no value: that is what `removeMetadata` writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(Vec<(String, Option<Vec<u8>>)>);

impl Metadata {
    /// No entries.
    pub fn new() -> Self {
        Metadata(Vec::new())
    }

    /// Sets `key` (JS `Object.assign`: an existing key keeps its place).
    pub fn set(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Drops `key` altogether (unlike JS's `removeMetadata`, which keeps it with no value).
    pub(crate) fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// The value of `key`: `None` when absent, `Some(None)` when removed.
    pub fn get(&self, key: &str) -> Option<Option<&[u8]>> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// How many entries there are (removed keys included).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in encoding order: JS puts integer-like keys first, ascending, then the
    /// others in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        let mut indexed: Vec<(u32, usize)> = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, (k, _))| array_index(k).map(|n| (n, i)))
            .collect();
        indexed.sort_unstable();
        let named = (0..self.0.len()).filter(|&i| array_index(&self.0[i].0).is_none());
        indexed
            .into_iter()
            .map(|(_, i)| i)
            .chain(named)
            .map(|i| (self.0[i].0.as_str(), self.0[i].1.as_deref()))
            .collect::<Vec<_>>()
            .into_iter()
    }
}

/// A key JS treats as an array index (canonical decimal below 2^32 - 1).
fn array_index(key: &str) -> Option<u32> {
    let n: u32 = key.parse().ok()?;
    (n != u32::MAX && n.to_string() == key).then_some(n)
}

/// A file's, directory's, symlink's or mount point's metadata (hyperdrive-schemas `Stat`).
///
/// Every numeric field is always encoded, as hyperdrive's `Stat` class always carries them.
/// Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Type and permission bits ([`mode`]).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes of content.
    pub size: u64,
    /// Content blocks.
    pub blocks: u64,
    /// First content block.
    pub offset: u64,
    /// Content-feed byte position of block `offset`.
    pub byte_offset: u64,
    /// Modification time, ms.
    pub mtime: u64,
    /// Change time, ms.
    pub ctime: u64,
    /// Symlink target.
    pub linkname: Option<String>,
    /// Mount point information.
    pub mount: Option<StatMount>,
    /// User metadata.
    pub metadata: Metadata,
}

impl Stat {
    /// A regular file with default permissions, stamped `now`.
    pub fn file(now: u64) -> Self {
        Self::with_mode(mode::S_IFREG | mode::DEFAULT_FILE, now)
    }

    /// A directory with default permissions, stamped `now`.
    pub fn directory(now: u64) -> Self {
        Self::with_mode(mode::S_IFDIR | mode::DEFAULT_DIR, now)
    }

    /// A symlink to `target`, stamped `now`.
    pub fn symlink(target: impl Into<String>, now: u64) -> Self {
        Stat {
            linkname: Some(target.into()),
            ..Self::with_mode(mode::S_IFLNK | mode::DEFAULT_FILE, now)
        }
    }

    fn with_mode(mode: u32, now: u64) -> Self {
        Stat {
            mode,
            mtime: now,
            ctime: now,
            ..Stat::default()
        }
    }

    /// JS `Stat.file({mode})`: permission bits (default when 0) plus the file type.
    pub(crate) fn file_mode(mode: u32) -> u32 {
        (if mode == 0 { mode::DEFAULT_FILE } else { mode }) | mode::S_IFREG
    }

    /// JS `Stat.directory({mode})`.
    pub(crate) fn dir_mode(mode: u32) -> u32 {
        (if mode == 0 { mode::DEFAULT_DIR } else { mode }) | mode::S_IFDIR
    }

    fn check(&self, mask: u32) -> bool {
        self.mode & mask == mask
    }

    /// JS `isFile()`: a bitmask test, so symlinks (and sockets) answer true too.
    pub fn is_file(&self) -> bool {
        self.check(mode::S_IFREG)
    }

    /// JS `isDirectory()` (bitmask: sockets and block devices answer true too).
    pub fn is_directory(&self) -> bool {
        self.check(mode::S_IFDIR)
    }

    /// JS `isSymbolicLink()`.
    pub fn is_symlink(&self) -> bool {
        self.check(mode::S_IFLNK)
    }

    /// The file type by the type bits alone: what a POSIX caller wants.
    pub fn file_type(&self) -> u32 {
        self.mode & mode::S_IFMT
    }

    /// Encodes as hyperdrive writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        // Fields 1..9 always, each a varint.
        put_uint(&mut out, 1, u64::from(self.mode));
        put_uint(&mut out, 2, u64::from(self.uid));
        put_uint(&mut out, 3, u64::from(self.gid));
        put_uint(&mut out, 4, self.size);
        put_uint(&mut out, 5, self.blocks);
        put_uint(&mut out, 6, self.offset);
        put_uint(&mut out, 7, self.byte_offset);
        put_uint(&mut out, 8, self.mtime);
        put_uint(&mut out, 9, self.ctime);
        // JS turns "" into null, so an empty target is never written.
        if let Some(link) = self.linkname.as_deref().filter(|l| !l.is_empty()) {
            put_bytes(&mut out, 10, link.as_bytes());
        }
        if let Some(mount) = &self.mount {
            let mut inner = Vec::with_capacity(40);
            mount.encode(&mut inner);
            put_bytes(&mut out, 11, &inner);
        }
        for (key, value) in self.metadata.iter() {
            let mut entry = Vec::with_capacity(key.len() + 4);
            put_bytes(&mut entry, 1, key.as_bytes());
            if let Some(value) = value {
                put_bytes(&mut entry, 2, value);
            }
            put_bytes(&mut out, 12, &entry);
        }
        out
    }

    /// Decodes a Stat. Missing numbers read as 0 (JS would then stamp a zero time with *now*;
    /// this keeps the stored 0 so reads are deterministic).
    pub fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut stat = Stat::default();
        let mut has_mode = false;
        // Where each metadata key sits, so a repeated key replaces its value in O(1).
        let mut metadata_at: HashMap<String, usize> = HashMap::new();
        let small = |v: u64| u32::try_from(v).map_err(|_| "uint32 field out of range");
        for field in Fields::new(buf) {
            match field? {
                (1, Value::Varint(v)) => {
                    stat.mode = small(v)?;
                    has_mode = true;
                }
                (2, Value::Varint(v)) => stat.uid = small(v)?,
                (3, Value::Varint(v)) => stat.gid = small(v)?,
                (4, Value::Varint(v)) => stat.size = v,
                (5, Value::Varint(v)) => stat.blocks = v,
                (6, Value::Varint(v)) => stat.offset = v,
                (7, Value::Varint(v)) => stat.byte_offset = v,
                (8, Value::Varint(v)) => stat.mtime = v,
                (9, Value::Varint(v)) => stat.ctime = v,
                (10, Value::Bytes(b)) => {
                    let link = std::str::from_utf8(b).map_err(|_| "linkname is not UTF-8")?;
                    stat.linkname = (!link.is_empty()).then(|| link.to_owned());
                }
                (11, Value::Bytes(b)) => stat.mount = Some(StatMount::decode(b)?),
                (12, Value::Bytes(b)) => {
                    let (key, value) = decode_entry(b)?;
                    let entries = &mut stat.metadata.0;
                    match metadata_at.get(&key) {
                        Some(&at) => entries[at].1 = value,
                        None if entries.len() == MAX_METADATA_ENTRIES => {
                            return Err("too many metadata entries");
                        }
                        None => {
                            metadata_at.insert(key.clone(), entries.len());
                            entries.push((key, value));
                        }
                    }
                }
                (1..=12, _) => return Err("stat field of the wrong type"),
                _ => {}
            }
        }
        if !has_mode {
            return Err("stat without a mode");
        }
        // The author chose these numbers; every reader adds them, so they are checked once here.
        if stat
            .offset
            .checked_add(stat.blocks)
            .is_none_or(|end| end > MAX_POSITION)
        {
            return Err("offset + blocks past any feed's length");
        }
        if stat
            .byte_offset
            .checked_add(stat.size)
            .is_none_or(|end| end > MAX_POSITION)
        {
            return Err("byte offset + size past any feed's byte length");
        }
        Ok(stat)
    }
}

/// Past this no feed position exists: Node's numbers are exact up to 2^53, and hypercore's
/// block indices stop at 2^52.
const MAX_POSITION: u64 = 1 << 53;

fn decode_entry(buf: &[u8]) -> Result<(String, Option<Vec<u8>>), &'static str> {
    let mut key = None;
    let mut value = None;
    for field in Fields::new(buf) {
        match field? {
            (1, Value::Bytes(b)) => {
                key = Some(
                    std::str::from_utf8(b)
                        .map_err(|_| "metadata key is not UTF-8")?
                        .to_owned(),
                )
            }
            (2, Value::Bytes(b)) => value = Some(b.to_vec()),
            (1 | 2, _) => return Err("metadata field of the wrong type"),
            _ => {}
        }
    }
    Ok((key.ok_or("metadata entry without a key")?, value))
}

/// A tag's value: the tagged version as a varint.
pub(crate) fn encode_tag(version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    put_varint(&mut out, version);
    out
}

/// Reads a tag's value.
pub(crate) fn decode_tag(buf: &[u8]) -> Option<u64> {
    crate::proto::get_varint(buf).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_that_overflow_or_pass_any_feed_are_refused_at_decode() {
        let ok = Stat {
            mode: mode::S_IFREG | mode::DEFAULT_FILE,
            offset: (1 << 53) - 5,
            blocks: 5,
            byte_offset: 1 << 52,
            size: 1 << 52,
            ..Stat::default()
        };
        assert_eq!(Stat::decode(&ok.encode()), Ok(ok.clone()));
        for bad in [
            Stat {
                offset: u64::MAX - 1,
                blocks: 5,
                ..ok.clone()
            },
            Stat {
                offset: 1 << 53,
                blocks: 1,
                ..ok.clone()
            },
            Stat {
                byte_offset: u64::MAX,
                size: 2,
                ..ok.clone()
            },
            Stat {
                byte_offset: 1 << 53,
                size: 1,
                ..ok.clone()
            },
        ] {
            assert!(Stat::decode(&bad.encode()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hello_example_from_the_spec() {
        let stat = Stat {
            size: 13,
            blocks: 1,
            ..Stat::file(1_500_000_000_000)
        };
        assert_eq!(
            hex::encode(stat.encode()),
            "08a4830210001800200d2801300038004080b0def7d32b4880b0def7d32b"
        );
    }

    #[test]
    fn metadata_orders_like_js_objects() {
        let mut m = Metadata::new();
        m.set("b", Some(vec![1]));
        m.set("10", None);
        m.set("a", Some(vec![]));
        m.set("2", Some(vec![2]));
        m.set("b", Some(vec![3]));
        let keys: Vec<&str> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["2", "10", "b", "a"]);
        assert_eq!(m.get("b"), Some(Some(&[3u8][..])));
        assert_eq!(m.get("10"), Some(None));
    }

    #[test]
    fn round_trips_every_field() {
        let mut stat = Stat::symlink("dir/a.txt", 7);
        stat.mount = Some(StatMount {
            key: [9; 32],
            version: Some(3),
            hash: Some(vec![1, 2]),
            hypercore: true,
        });
        stat.metadata.set("k", None);
        assert_eq!(Stat::decode(&stat.encode()), Ok(stat));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Stat::decode(&[]).is_err());
        assert!(Stat::decode(&[0x10, 0x00]).is_err());
        assert!(Stat::decode(&[0x08, 0xff]).is_err());
        assert!(Stat::decode(&[0x08, 0x80, 0x80, 0x80, 0x80, 0x20]).is_err());
    }
}
