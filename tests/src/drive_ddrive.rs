//! The ddrive side of drive-tool.js: replays a [`Script`] into a corestore folder and answers a
//! [`Query`] in the JSON shapes `tests/js/lib/drives.js` prints, so the two can be compared as
//! values.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use corestore::Corestore;
use hyperdrive::{
    Clock, DiffEntry, DiffKind, Drive, DriveOptions, MountOptions, ReaddirOptions, Stat,
    WriteOptions, mode,
};
use serde_json::{Map, Value, json};

use crate::drive_script::{CheckoutQuery, OpKind, Query, Script, StatOpts, file_bytes};
use crate::sha256_hex;

/// A store folder with its drives open, all reading one settable clock.
struct Opened {
    store: Arc<Corestore>,
    drives: BTreeMap<String, Drive>,
    now: Arc<AtomicU64>,
}

impl Opened {
    fn open(dir: &Path, names: &[String]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(Corestore::open(dir)?);
        let now = Arc::new(AtomicU64::new(crate::drive_script::FIXED_TIME));
        let reading = Arc::clone(&now);
        let options =
            DriveOptions::default().clock(Clock::from_fn(move || reading.load(Ordering::SeqCst)));
        let mut drives = BTreeMap::new();
        for name in names {
            let view = if name == "main" {
                Arc::clone(&store)
            } else {
                Arc::new(store.namespace(name)?)
            };
            let drive = Drive::create(view, options.clone())
                .with_context(|| format!("opening drive {name}"))?;
            drives.insert(name.clone(), drive);
        }
        Ok(Opened { store, drives, now })
    }

    fn drive(&self, name: &str) -> Result<&Drive> {
        self.drives
            .get(name)
            .with_context(|| format!("no drive {name} in the script"))
    }

    fn close(self) -> Result<()> {
        self.store.close()?;
        Ok(())
    }
}

fn write_options(opts: &StatOpts) -> WriteOptions {
    let mut out = WriteOptions::default()
        .mode(opts.mode.unwrap_or(0))
        .owner(opts.uid.unwrap_or(0), opts.gid.unwrap_or(0));
    out.mtime = opts.mtime;
    out.ctime = opts.ctime;
    out
}

fn apply(
    opened: &Opened,
    marks: &mut BTreeMap<String, u64>,
    drive: &Drive,
    op: &OpKind,
) -> hyperdrive::Result<()> {
    match op {
        OpKind::Write {
            path,
            size,
            seed,
            opts,
        } => drive
            .write_file(path, &file_bytes(*size, *seed), &write_options(opts))
            .map(drop),
        OpKind::Mkdir { path, opts } => drive.mkdir(path, &write_options(opts)).map(drop),
        OpKind::Symlink { target, path } => drive.symlink(target, path).map(drop),
        OpKind::Unlink { path } => drive.unlink(path),
        OpKind::Rmdir { path } => drive.rmdir(path),
        OpKind::Truncate { path, size } => drive.truncate(path, *size),
        OpKind::SetMetadata { path, key, value } => {
            let value = hex::decode(value)
                .map_err(|e| hyperdrive::Error::InvalidArgument(e.to_string()))?;
            drive.set_metadata(path, key, &value)
        }
        OpKind::RemoveMetadata { path, key } => drive.remove_metadata(path, key),
        OpKind::CreateTag { name, version } => drive.create_tag(name, *version),
        OpKind::DeleteTag { name } => drive.delete_tag(name).map(drop),
        OpKind::Mount {
            path,
            target,
            pinned,
        } => {
            let target = opened
                .drive(target)
                .map_err(|e| hyperdrive::Error::InvalidArgument(e.to_string()))?;
            let mut options = MountOptions::default();
            if *pinned {
                options = options.version(target.version());
            }
            drive.mount(path, target.key(), &options)
        }
        OpKind::Unmount { path } => drive.unmount(path),
        OpKind::Mark { name } => {
            marks.insert(name.clone(), drive.version());
            Ok(())
        }
    }
}

fn error_json(e: &hyperdrive::Error) -> Value {
    json!({ "error": e.code() })
}

/// Replays `script` into the store in `dir` (its `master_key` already written); answers as
/// drive-tool.js `run` does: one `{version}` or `{error}` per op, the marks and the drive keys.
pub fn run(dir: &Path, script: &Script) -> Result<Value> {
    let opened = Opened::open(dir, &script.drives)?;
    let mut marks = BTreeMap::new();
    let mut results = Vec::new();
    for (i, op) in script.ops.iter().enumerate() {
        opened.now.store(op.now, Ordering::SeqCst);
        let drive = opened.drive(&op.drive)?;
        let result = match apply(&opened, &mut marks, drive, &op.kind) {
            Ok(()) => json!({ "version": drive.version() }),
            Err(e @ (hyperdrive::Error::Feed(_) | hyperdrive::Error::Store(_))) => {
                bail!("op {i} {op:?}: {e}")
            }
            Err(e) => error_json(&e),
        };
        results.push(result);
    }
    let keys: Map<String, Value> = opened
        .drives
        .iter()
        .map(|(name, d)| (name.clone(), json!(d.key().to_hex())))
        .collect();
    opened.close()?;
    Ok(json!({ "results": results, "marks": marks, "keys": keys }))
}

/// A Stat as drives.js `statJson` prints it.
pub fn stat_json(st: &Stat) -> Value {
    let metadata: Map<String, Value> = st
        .metadata
        .iter()
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.map_or(Value::Null, |v| json!(hex::encode(v))),
            )
        })
        .collect();
    let mount = st.mount.as_ref().map(|m| {
        json!({
            "key": hex::encode(m.key),
            "version": m.version.unwrap_or(0),
            "hypercore": m.hypercore,
        })
    });
    json!({
        "mode": st.mode,
        "uid": st.uid,
        "gid": st.gid,
        "size": st.size,
        "blocks": st.blocks,
        "offset": st.offset,
        "byteOffset": st.byte_offset,
        "mtime": st.mtime,
        "ctime": st.ctime,
        "linkname": st.linkname,
        "mount": mount,
        "metadata": metadata,
        "isFile": st.is_file(),
        "isDirectory": st.is_directory(),
        "isSymbolicLink": st.is_symlink(),
    })
}

fn or_error(r: hyperdrive::Result<Value>) -> Value {
    r.unwrap_or_else(|e| error_json(&e))
}

fn path_report(d: &Drive, path: &str) -> Value {
    let stat = d.stat(path);
    let lstat = d.lstat(path);
    let mut out = json!({
        "path": path,
        "stat": stat_or_error(&stat),
        "lstat": stat_or_error(&lstat),
        // JS `exists` answers false for any error.
        "exists": matches!(d.exists(path), Ok(true)),
    });
    if let Ok(st) = &stat {
        let hypercore = st.mount.as_ref().is_some_and(|m| m.hypercore);
        if st.is_file() && !st.is_directory() && !hypercore {
            out["content"] = or_error(
                d.read_file(path)
                    .map(|b| json!({ "size": b.len(), "sha256": sha256_hex(&b) })),
            );
        }
    }
    if let Ok(st) = &lstat
        && st.mode & mode::S_IFLNK == mode::S_IFLNK
    {
        out["readlink"] = or_error(d.readlink(path).map(Value::from));
    }
    out
}

fn stat_or_error(r: &hyperdrive::Result<Stat>) -> Value {
    match r {
        Ok(st) => stat_json(st),
        Err(e) => error_json(e),
    }
}

fn readdir_report(d: &Drive, dir: &str) -> Value {
    let list = |o: ReaddirOptions| or_error(d.readdir(dir, &o).map(Value::from));
    let with_stats = or_error(d.readdir_with_stats(dir, &ReaddirOptions::default()).map(
        |entries| {
            entries
                .iter()
                .map(|e| json!({ "name": e.name, "path": e.path, "stat": stat_json(&e.stat) }))
                .collect::<Vec<_>>()
                .into()
        },
    ));
    json!({
        "dir": dir,
        "names": list(ReaddirOptions::default()),
        "recursive": list(ReaddirOptions::default().recursive(true)),
        "noMounts": list(ReaddirOptions::default().recursive(true).no_mounts(true)),
        "withStats": with_stats,
    })
}

fn view(d: &Drive, paths: &[String], dirs: &[String]) -> Value {
    json!({
        "version": d.version(),
        "paths": paths.iter().map(|p| path_report(d, p)).collect::<Vec<_>>(),
        "dirs": dirs.iter().map(|p| readdir_report(d, p)).collect::<Vec<_>>(),
    })
}

/// A diff entry as drives.js prints it. JS replaces a mount node by its mount info before
/// the entry is built, so a mount entry has no `seq` and an unmount entry no `previous`; ddrive
/// knows both, and they are left out here to compare like with like.
fn diff_json(e: &DiffEntry) -> Value {
    let (kind, seq, previous) = match e.kind {
        DiffKind::Put => ("put", e.seq, e.previous),
        DiffKind::Del => ("del", e.seq, e.previous),
        DiffKind::Mount => ("mount", None, None),
        DiffKind::Unmount => ("unmount", e.seq, None),
    };
    let value = match (&e.stat, &e.mount) {
        (Some(st), _) if e.kind == DiffKind::Put => stat_json(st),
        (_, Some(m)) if e.kind == DiffKind::Mount => json!({
            "key": hex::encode(m.key),
            "localPath": m.local_path,
            "version": m.version.unwrap_or(0),
        }),
        _ => Value::Null,
    };
    json!({ "type": kind, "name": e.name, "seq": seq, "previous": previous, "value": value })
}

fn checkout_view(d: &Drive, co: &CheckoutQuery) -> Value {
    view(&d.checkout(co.version), &co.paths, &co.dirs)
}

/// Answers `query` about a drive of the store in `dir`, as drive-tool.js `dump` does.
pub fn dump(dir: &Path, drives: &[String], query: &Query) -> Result<Value> {
    let opened = Opened::open(dir, drives)?;
    opened.now.store(query.now, Ordering::SeqCst);
    let d = opened.drive(&query.drive)?;
    let mut out = view(d, &query.paths, &query.dirs);
    out["key"] = json!(d.key().to_hex());
    out["writable"] = json!(d.writable());
    let content = d.content_feed().context("no content feed")?;
    out["contentKey"] = json!(content.lock().key().to_hex());
    out["tags"] = d
        .tags()?
        .into_iter()
        .map(|(name, version)| json!({ "name": name, "version": version }))
        .collect();
    out["taggedVersions"] = query
        .tags
        .iter()
        .map(|t| d.tagged_version(t).map(Value::from))
        .collect::<hyperdrive::Result<Vec<_>>>()?
        .into();
    let mut mounts = Map::new();
    for (label, recursive) in [("top", false), ("recursive", true)] {
        // JS lists the drive itself first, at `/`.
        let mut list = vec![json!({ "path": "/", "key": d.key().to_hex() })];
        for m in d.mounts(recursive)? {
            list.push(json!({ "path": m.path, "key": hex::encode(m.record.key) }));
        }
        mounts.insert(label.into(), list.into());
    }
    out["mounts"] = mounts.into();
    out["diffs"] = query
        .diffs
        .iter()
        .map(|q| {
            let from = match q.from {
                Some(v) => d.checkout(v),
                None => d.clone(),
            };
            let entries = or_error(
                from.diff(q.to, &q.prefix)
                    .map(|es| es.iter().map(diff_json).collect::<Vec<_>>().into()),
            );
            json!({ "from": q.from, "to": q.to, "prefix": q.prefix, "entries": entries })
        })
        .collect();
    out["checkouts"] = query
        .checkouts
        .iter()
        .map(|co| checkout_view(d, co))
        .collect();
    opened.close()?;
    Ok(out)
}
