//! multi-hyperdrive scripts: operations on the drives of a store folder or through their
//! union ([`MultiScript`]), the questions both sides answer through the union
//! ([`MultiQuery`]), in the JSON shapes `tests/js/multi-tool.js` prints, and the ddrive side
//! ([`run`], [`dump`]) over [`multidrive::MultiDrive`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use corestore::Corestore;
use hyperdrive::{Clock, Drive, DriveOptions, ReaddirOptions, WriteOptions};
use multidrive::{MultiDrive, tombstone_key};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::drive_script::{FIXED_TIME, file_bytes};
use crate::sha256_hex;

/// What an operation runs on.
pub const UNION: &str = "union";

/// One operation: on drive `on` (a name of the script) or on [`UNION`], with the clock at
/// `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MultiOp {
    /// A drive name, or `union`.
    pub on: String,
    /// The clock during the operation, ms.
    pub now: u64,
    /// The operation.
    #[serde(flatten)]
    pub kind: MultiOpKind,
}

/// The operations (`op` in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum MultiOpKind {
    /// writeFile of `size` bytes from the stream of `seed`, with an explicit ctime if given.
    Write {
        /// Path.
        path: String,
        /// Bytes.
        size: u32,
        /// Content seed.
        seed: u32,
        /// Explicit change time, ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        ctime: Option<u64>,
    },
    /// mkdir.
    Mkdir {
        /// Path.
        path: String,
    },
    /// unlink.
    Unlink {
        /// Path.
        path: String,
    },
}

/// Drives (namespaces of one store, the first the union's primary and writer) and the
/// operations on them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MultiScript {
    /// Drive names.
    pub drives: Vec<String>,
    /// Operations in order.
    pub ops: Vec<MultiOp>,
}

/// What to ask through the union.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MultiQuery {
    /// The clock during the dump.
    pub now: u64,
    /// Paths to stat (and read, for files).
    pub paths: Vec<String>,
    /// Directories to list.
    pub dirs: Vec<String>,
    /// Paths whose raw tombstone record to report from every drive.
    pub tombstones: Vec<String>,
}

/// A `run` job for multi-tool.js.
pub fn run_job(dir: &Path, script: &MultiScript) -> Value {
    json!({ "op": "run", "dir": dir, "script": script })
}

/// A `dump` job for multi-tool.js.
pub fn dump_job(dir: &Path, drives: &[String], query: &MultiQuery) -> Value {
    json!({ "op": "dump", "dir": dir, "drives": drives, "query": query })
}

struct Opened {
    store: Arc<Corestore>,
    drives: Vec<(String, Drive)>,
    union: MultiDrive,
    now: Arc<AtomicU64>,
}

impl Opened {
    fn open(dir: &Path, names: &[String]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(Corestore::open(dir)?);
        let now = Arc::new(AtomicU64::new(FIXED_TIME));
        let reading = Arc::clone(&now);
        let options =
            DriveOptions::default().clock(Clock::from_fn(move || reading.load(Ordering::SeqCst)));
        let mut drives = Vec::new();
        for name in names {
            let drive = Drive::create(Arc::new(store.namespace(name)?), options.clone())
                .with_context(|| format!("opening drive {name}"))?;
            drives.push((name.clone(), drive));
        }
        let (_, primary) = drives.first().context("a script needs a drive")?;
        let union = MultiDrive::new(primary.clone());
        for (_, d) in &drives[1..] {
            union.add_drive(d.clone());
        }
        Ok(Opened {
            store,
            drives,
            union,
            now,
        })
    }

    fn drive(&self, name: &str) -> Result<&Drive> {
        self.drives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
            .with_context(|| format!("no drive {name} in the script"))
    }

    fn name_of(&self, key: &hypercore::PublicKey) -> Value {
        self.drives
            .iter()
            .find(|(_, d)| d.key() == key)
            .map_or(Value::Null, |(n, _)| json!(n))
    }
}

fn code(e: &multidrive::Error) -> Value {
    let code = match e {
        multidrive::Error::Drive(d) => d.code().to_owned(),
        other => format!("errno {}", other.errno()),
    };
    json!({ "error": code })
}

fn apply(opened: &Opened, op: &MultiOp) -> Result<multidrive::Result<()>> {
    let union = op.on == UNION;
    let drive = if union {
        None
    } else {
        Some(opened.drive(&op.on)?)
    };
    let u = &opened.union;
    let lift = |r: hyperdrive::Result<()>| r.map_err(multidrive::Error::from);
    Ok(match (&op.kind, drive) {
        (
            MultiOpKind::Write {
                path,
                size,
                seed,
                ctime,
            },
            d,
        ) => {
            let mut options = WriteOptions::default();
            options.ctime = *ctime;
            let data = file_bytes(*size, *seed);
            match d {
                Some(d) => lift(d.write_file(path, &data, &options).map(drop)),
                None => u.write_file(path, &data, &options).map(drop),
            }
        }
        (MultiOpKind::Mkdir { path }, Some(d)) => {
            lift(d.mkdir(path, &WriteOptions::default()).map(drop))
        }
        (MultiOpKind::Mkdir { path }, None) => u.mkdir(path, &WriteOptions::default()),
        (MultiOpKind::Unlink { path }, Some(d)) => lift(d.unlink(path)),
        (MultiOpKind::Unlink { path }, None) => u.unlink(path),
    })
}

/// Replays `script` into the store in `dir` (its `master_key` already written); answers as
/// multi-tool.js `run` does.
pub fn run(dir: &Path, script: &MultiScript) -> Result<Value> {
    let opened = Opened::open(dir, &script.drives)?;
    let mut results = Vec::new();
    for op in &script.ops {
        opened.now.store(op.now, Ordering::SeqCst);
        results.push(match apply(&opened, op)? {
            Ok(()) => json!({ "ok": true }),
            Err(e) => code(&e),
        });
    }
    let keys: Map<String, Value> = opened
        .drives
        .iter()
        .map(|(n, d)| (n.clone(), json!(d.key().to_hex())))
        .collect();
    opened.store.close()?;
    Ok(json!({ "results": results, "keys": keys }))
}

/// Answers `query` through the union of the store in `dir`, as multi-tool.js `dump` does.
pub fn dump(dir: &Path, names: &[String], query: &MultiQuery) -> Result<Value> {
    let opened = Opened::open(dir, names)?;
    opened.now.store(query.now, Ordering::SeqCst);
    let u = &opened.union;
    let mut paths = Vec::new();
    for p in &query.paths {
        let mut out = Map::new();
        out.insert("path".into(), json!(p));
        match u.stat(p) {
            Err(e) => {
                out.insert("error".into(), code(&e)["error"].clone());
            }
            Ok(st) => {
                out.insert("drive".into(), opened.name_of(&st.drive));
                out.insert("size".into(), json!(st.stat.size));
                out.insert("ctime".into(), json!(st.stat.ctime));
                out.insert("isDirectory".into(), json!(st.stat.is_directory()));
                if st.stat.is_file() {
                    let data = u.read_file(p).with_context(|| format!("reading {p}"))?;
                    out.insert("sha256".into(), json!(sha256_hex(&data)));
                }
            }
        }
        paths.push(Value::Object(out));
    }
    let mut dirs = Vec::new();
    for d in &query.dirs {
        let names = match u.readdir(d, &ReaddirOptions::default()) {
            Ok(mut names) => {
                names.sort();
                json!(names)
            }
            Err(e) => code(&e),
        };
        let files = match u.readdir_with_stats(d, &ReaddirOptions::default()) {
            Ok(mut entries) => {
                entries.retain(|e| e.stat.is_file());
                entries.sort_by(|x, y| x.name.cmp(&y.name));
                json!(
                    entries
                        .iter()
                        .map(|e| json!({
                            "name": e.name,
                            "drive": opened.name_of(&e.drive),
                            "size": e.stat.size,
                            "ctime": e.stat.ctime,
                        }))
                        .collect::<Vec<_>>()
                )
            }
            Err(e) => code(&e),
        };
        dirs.push(json!({ "dir": d, "names": names, "files": files }));
    }
    let mut tombstones = Vec::new();
    for p in &query.tombstones {
        let mut records = Map::new();
        for (name, d) in &opened.drives {
            let record = d.hidden_get(&tombstone_key(p))?;
            records.insert(
                name.clone(),
                record.map_or(Value::Null, |(v, _)| json!(hex::encode(v))),
            );
        }
        tombstones.push(json!({ "path": p, "records": records }));
    }
    opened.store.close()?;
    Ok(json!({ "paths": paths, "dirs": dirs, "tombstones": tombstones }))
}
