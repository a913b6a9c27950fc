//! Hyperdrive scripts and queries: the drive operations both sides replay into a corestore
//! folder ([`Script`], [`Op`]) and the questions both sides answer about a drive ([`Query`]),
//! in the JSON shapes `tests/js/lib/drives.js` reads. The ddrive side is
//! [`crate::drive_ddrive`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

/// The instant the Node vector generator pins its clock to; scripts start from it.
pub const FIXED_TIME: u64 = 1_600_000_000_000;

/// One drive operation, run on drive `drive` with the clock at `now` (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// The drive: `main` (the store's default drive) or a namespace's default drive.
    pub drive: String,
    /// What the clock reads during the operation.
    pub now: u64,
    /// The operation.
    #[serde(flatten)]
    pub kind: OpKind,
}

/// Stat fields a write or mkdir may set explicitly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatOpts {
    /// Modification time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
    /// Change time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctime: Option<u64>,
    /// Permission bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// The operations of a script (`op` in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum OpKind {
    /// writeFile with `size` bytes from the stream of `seed` ([`file_bytes`]).
    Write {
        /// Path.
        path: String,
        /// Bytes.
        size: u32,
        /// Content seed.
        seed: u32,
        /// Explicit Stat fields.
        #[serde(flatten)]
        opts: StatOpts,
    },
    /// mkdir.
    Mkdir {
        /// Path.
        path: String,
        /// Explicit Stat fields.
        #[serde(flatten)]
        opts: StatOpts,
    },
    /// symlink(target, path).
    Symlink {
        /// Link target, stored as given.
        target: String,
        /// The link.
        path: String,
    },
    /// unlink.
    Unlink {
        /// Path.
        path: String,
    },
    /// rmdir.
    Rmdir {
        /// Path.
        path: String,
    },
    /// truncate.
    Truncate {
        /// Path.
        path: String,
        /// New size.
        size: u64,
    },
    /// setMetadata.
    SetMetadata {
        /// Path.
        path: String,
        /// Key.
        key: String,
        /// Hex value.
        value: String,
    },
    /// removeMetadata.
    RemoveMetadata {
        /// Path.
        path: String,
        /// Key.
        key: String,
    },
    /// createTag, at `version` or the current one.
    CreateTag {
        /// Tag name.
        name: String,
        /// Version to tag.
        version: Option<u64>,
    },
    /// deleteTag.
    DeleteTag {
        /// Tag name.
        name: String,
    },
    /// Mount drive `target` at `path`; `pinned` pins it to its version at this point.
    Mount {
        /// Mount point.
        path: String,
        /// Name of the mounted drive in the script.
        target: String,
        /// A static-version mount.
        pinned: bool,
    },
    /// unmount.
    Unmount {
        /// Mount point.
        path: String,
    },
    /// Remember the drive's current version as `name` (reported in the run's `marks`).
    Mark {
        /// Mark name.
        name: String,
    },
}

/// Drives to open (in order) and operations to run on them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Script {
    /// Drive names; `main` is the store's default drive, others are namespaces.
    pub drives: Vec<String>,
    /// Operations in order.
    pub ops: Vec<Op>,
}

impl Script {
    /// The same drives with the operations `range` only (for turn-taking writers).
    pub fn part(&self, range: std::ops::Range<usize>) -> Script {
        Script {
            drives: self.drives.clone(),
            ops: self.ops[range].to_vec(),
        }
    }
}

/// A file's bytes: one block of exactly `size` bytes from the stream of `seed`, as
/// `fileBytes` in drives.js.
pub fn file_bytes(size: u32, seed: u32) -> Vec<u8> {
    crate::content::Batch::random(1, size, size, seed)
        .blocks()
        .pop()
        .unwrap_or_default()
}

/// A diff to report: from the live drive (`from: None`) or a checkout, against version `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffQuery {
    /// Left side: a version, or the live drive.
    pub from: Option<u64>,
    /// Right side.
    pub to: u64,
    /// Path prefix.
    pub prefix: String,
}

/// Paths and directories to report on a checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckoutQuery {
    /// The version.
    pub version: u64,
    /// Paths to stat, lstat and read.
    pub paths: Vec<String>,
    /// Directories to list.
    pub dirs: Vec<String>,
}

/// What to ask one drive of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Query {
    /// The drive's name in the script.
    pub drive: String,
    /// The clock during the dump (implicit directory Stats read it).
    pub now: u64,
    /// Paths to stat, lstat and read.
    pub paths: Vec<String>,
    /// Directories to list.
    pub dirs: Vec<String>,
    /// Tag names to look up one by one.
    pub tags: Vec<String>,
    /// Diffs.
    pub diffs: Vec<DiffQuery>,
    /// Checkouts.
    pub checkouts: Vec<CheckoutQuery>,
}

/// A `run` job for drive-tool.js.
pub fn run_job(dir: &Path, script: &Script) -> Value {
    json!({ "op": "run", "dir": dir, "script": script })
}

/// A `dump` job for drive-tool.js.
pub fn dump_job(dir: &Path, drives: &[String], query: &Query) -> Value {
    json!({ "op": "dump", "dir": dir, "drives": drives, "query": query })
}

/// The marks of a run report (`{marks: {name: version}}`).
pub fn marks(report: &Value) -> BTreeMap<String, u64> {
    report["marks"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_serialize_flat_as_drives_js_reads_them() {
        let op = Op {
            drive: "main".into(),
            now: 5,
            kind: OpKind::Write {
                path: "/a".into(),
                size: 3,
                seed: 9,
                opts: StatOpts {
                    mtime: Some(7),
                    ..StatOpts::default()
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&op).expect("json"),
            json!({"drive": "main", "now": 5, "op": "write", "path": "/a", "size": 3, "seed": 9, "mtime": 7})
        );
        let tag = OpKind::CreateTag {
            name: "v".into(),
            version: None,
        };
        assert_eq!(
            serde_json::to_value(&tag).expect("json"),
            json!({"op": "createTag", "name": "v", "version": null})
        );
    }

    #[test]
    fn file_bytes_are_the_js_stream() {
        // `batchBlocks({count: 3, min: 0, max: 10, seed: 5})` starts with a 6-byte block whose
        // size came from the stream; a fixed size skips that draw, so only lengths are checked.
        assert_eq!(file_bytes(0, 1), Vec::<u8>::new());
        assert_eq!(file_bytes(1000, 7).len(), 1000);
        assert_ne!(file_bytes(16, 1), file_bytes(16, 2));
    }
}
