//! Replays the op log of `tests/vectors/hyperdrive.json` (made by Node hyperdrive
//! 10.21.0 with a fixed master key and a pinned clock) and checks every block, every file of
//! the corestore folder and every recorded query result.
#![allow(clippy::unwrap_used)] // helpers too: a malformed vector file should fail loudly

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use corestore::Corestore;
use hyperdrive::{Clock, Drive, DriveOptions, MountOptions, ReaddirOptions, Stat, WriteOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Result<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/hyperdrive.json");
    Ok(serde_json::from_str(&fs::read_to_string(path)?)?)
}

fn walk(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root)?.to_path_buf(), fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

fn check_stat(path: &str, ours: &Stat, theirs: &Value) {
    let num = |f: &str| theirs[f].as_u64().unwrap();
    assert_eq!(u64::from(ours.mode), num("mode"), "{path} mode");
    assert_eq!(u64::from(ours.uid), num("uid"), "{path} uid");
    assert_eq!(ours.size, num("size"), "{path} size");
    assert_eq!(ours.blocks, num("blocks"), "{path} blocks");
    assert_eq!(ours.offset, num("offset"), "{path} offset");
    assert_eq!(ours.byte_offset, num("byteOffset"), "{path} byteOffset");
    assert_eq!(ours.mtime, num("mtime"), "{path} mtime");
    assert_eq!(ours.ctime, num("ctime"), "{path} ctime");
    assert_eq!(
        ours.is_file(),
        theirs["isFile"].as_bool().unwrap(),
        "{path}"
    );
    assert_eq!(
        ours.is_directory(),
        theirs["isDirectory"].as_bool().unwrap()
    );
    assert_eq!(
        ours.is_symlink(),
        theirs["isSymbolicLink"].as_bool().unwrap()
    );
    assert_eq!(
        ours.linkname.as_deref(),
        theirs["linkname"].as_str(),
        "{path} linkname"
    );
    match (&ours.mount, &theirs["mount"]) {
        (None, Value::Null) => {}
        (Some(m), t) => {
            assert_eq!(hex::encode(m.key), t["key"].as_str().unwrap(), "{path}");
            assert_eq!(m.version, t["version"].as_u64(), "{path}");
            assert_eq!(m.hypercore, t["hypercore"].as_bool().unwrap(), "{path}");
        }
        (None, t) => panic!("{path}: expected mount {t}"),
    }
    if let Some(meta) = theirs["metadata"].as_object() {
        let ours_meta: Vec<(String, Option<String>)> = ours
            .metadata
            .iter()
            .map(|(k, v)| (k.to_owned(), v.map(hex::encode)))
            .collect();
        let theirs_meta: Vec<(String, Option<String>)> = meta
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
            .collect();
        assert_eq!(ours_meta, theirs_meta, "{path} metadata");
    }
}

#[test]
fn replay_node_drive() -> Result<()> {
    let v = vectors()?;
    let fixed = v["FIXED_TIME"].as_u64().context("FIXED_TIME")?;
    let t1 = v["explicitTime"].as_u64().context("explicitTime")?;
    let dir = tempfile::tempdir()?;
    fs::write(
        dir.path().join("master_key"),
        hex::decode(v["corestoreMasterKey"].as_str().context("master key")?)?,
    )?;
    let store = Arc::new(Corestore::open(dir.path())?);
    let options = DriveOptions::default().clock(Clock::fixed(fixed));
    let at_t1 = WriteOptions::default().times(t1, t1);
    let none = WriteOptions::default();

    let ops = v["ops"].as_array().context("ops")?;
    let drive = Drive::create(Arc::clone(&store), options.clone())?;
    assert_eq!(drive.key().to_hex(), v["metadata"]["key"].as_str().unwrap());
    let content = drive.content_feed().context("content")?.clone();
    let mut step = 0;
    let mut check = |what: &str| {
        let op = &ops[step];
        let content_len = content.lock().len();
        assert_eq!(
            drive.version(),
            op["version"].as_u64().unwrap(),
            "after {what}"
        );
        assert_eq!(
            content_len,
            op["contentLength"].as_u64().unwrap(),
            "after {what}"
        );
        step += 1;
    };
    check("create");
    drive.write_file("/hello.txt", b"Hello, World!", &at_t1)?;
    check("hello");
    drive.mkdir("/dir", &at_t1)?;
    check("mkdir");
    drive.write_file("/dir/a.txt", b"file a", &none)?;
    check("a.txt");
    let big: Vec<u8> = (0..614_400u32)
        .map(|i| (i.wrapping_mul(7) + 3) as u8)
        .collect();
    drive.write_file("/dir/sub/big.bin", &big, &none)?;
    check("big");
    drive.write_file("/empty.txt", b"", &none)?;
    check("empty");
    drive.symlink("/hello.txt", "/link-to-hello")?;
    check("symlink");
    drive.symlink("dir/a.txt", "/rel-link")?;
    check("rel symlink");
    drive.set_metadata("/hello.txt", "author", b"alice")?;
    check("setMetadata");
    drive.create_tag("v1", None)?;
    check("tag v1");
    let version_at_tag = drive.version();

    let ns = Arc::new(store.namespace("mounted-drive")?);
    let drive2 = Drive::create(ns, options.clone())?;
    assert_eq!(
        drive2.key().to_hex(),
        v["mountedDrive"]["key"].as_str().unwrap()
    );
    drive2.write_file("/in-mount.txt", b"inside the mounted drive", &at_t1)?;

    drive.mount("/mnt", drive2.key(), &MountOptions::default())?;
    check("mount");
    drive.write_file("/mnt/written-through-mount.txt", b"via parent", &none)?;
    check("write through mount");

    let plain = store.get_by_name("plain-core")?;
    plain
        .lock()
        .append_batch(&[b"core block 0".as_slice(), b"core block 1".as_slice()])?;
    let plain_key = *plain.lock().key();
    drive.mount(
        "/core-mount",
        &plain_key,
        &MountOptions::default().hypercore(true),
    )?;
    check("core mount");
    drive.unlink("/dir/a.txt")?;
    check("unlink");
    drive.write_file("/hello.txt", b"Hello again, World!", &at_t1)?;
    check("overwrite");
    drive.truncate("/hello.txt", 5)?;
    check("truncate");
    drive.create_tag("v2", None)?;
    check("tag v2");
    assert!(drive.delete_tag("v2")?);
    check("delete tag");
    drive.remove_metadata("/hello.txt", "author")?;
    check("removeMetadata");
    assert_eq!(step, ops.len());

    // Every metadata block, byte for byte.
    {
        let meta = drive.metadata_feed().clone();
        let mut meta = meta.lock();
        for block in v["metadata"]["blocks"].as_array().context("blocks")? {
            let seq = block["seq"].as_u64().unwrap();
            assert_eq!(
                hex::encode(meta.get(seq)?),
                block["hex"].as_str().unwrap(),
                "block {seq}"
            );
        }
    }

    // Queries.
    let q = &v["queries"];
    let strings = |x: &Value| -> Vec<String> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        drive.readdir("/", &ReaddirOptions::default())?,
        strings(&q["readdirRoot"])
    );
    assert_eq!(
        drive.readdir("/", &ReaddirOptions::default().recursive(true))?,
        strings(&q["readdirRootRecursive"])
    );
    assert_eq!(
        drive.readdir("/dir", &ReaddirOptions::default())?,
        strings(&q["readdirDir"])
    );
    for (path, theirs) in q["stat"].as_object().unwrap() {
        check_stat(path, &drive.stat(path)?, theirs);
    }
    for (path, theirs) in q["lstat"].as_object().unwrap() {
        check_stat(path, &drive.lstat(path)?, theirs);
    }
    for (path, theirs) in q["readFile"].as_object().unwrap() {
        let ours = String::from_utf8(drive.read_file(path)?)?;
        assert_eq!(ours, theirs.as_str().unwrap(), "{path}");
    }
    let big_back = drive.read_file("/dir/sub/big.bin")?;
    assert_eq!(
        hex::encode(Sha256::digest(&big_back)),
        q["bigFileSha256"].as_str().unwrap()
    );
    let tags: Vec<(String, u64)> = q["tags"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(drive.tags()?, tags);
    assert_eq!(drive.tagged_version("v1")?, q["taggedVersion_v1"].as_u64());
    let co = &q["checkoutAtTagV1"];
    assert_eq!(version_at_tag, co["version"].as_u64().unwrap());
    let old = drive.checkout(version_at_tag);
    assert_eq!(
        old.readdir("/", &ReaddirOptions::default())?,
        strings(&co["readdirRoot"])
    );
    assert_eq!(
        old.read_file("/hello.txt")?,
        co["helloTxt"].as_str().unwrap().as_bytes()
    );
    assert!(!old.writable());

    // The whole folder: the same files, each byte-identical.
    store.close()?;
    drop((drive, drive2, content, plain, old));
    drop(store);
    let ours = walk(dir.path())?;
    let theirs = v["storage"]["files"].as_array().context("files")?;
    ensure!(
        ours.len() == theirs.len(),
        "{} files, Node has {}",
        ours.len(),
        theirs.len()
    );
    for file in theirs {
        let path = PathBuf::from(file["path"].as_str().unwrap());
        let bytes = ours
            .get(&path)
            .with_context(|| format!("{path:?} missing"))?;
        assert_eq!(
            bytes.len() as u64,
            file["size"].as_u64().unwrap(),
            "{path:?} size"
        );
        assert_eq!(
            hex::encode(Sha256::digest(bytes)),
            file["sha256"].as_str().unwrap(),
            "{path:?}"
        );
    }
    Ok(())
}
