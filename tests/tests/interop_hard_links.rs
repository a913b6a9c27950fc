//! Hard links, block-sharing copies and special files written by ddrive, read by Node's
//! hyperdrive@10.21.0 (which knows nothing of them): every name of a linked file and every
//! copy is an ordinary file with the right bytes, a FIFO is a Stat with its type bits; and a
//! name Node rewrites leaves the link instead of being overwritten by ddrive's next update.
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop` once
//! `npm ci` has run in tests/js).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use corestore::Corestore;
use ddrive_tests::drive_script::{
    FIXED_TIME, Op, OpKind, Query, Script, StatOpts, dump_job, file_bytes, run_job,
};
use ddrive_tests::js_tool::JsTool;
use hyperdrive::{Clock, Drive, DriveOptions, WriteOptions, mode};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn open(dir: &Path) -> Result<Drive> {
    let store = Arc::new(Corestore::open(dir)?);
    Ok(Drive::create(
        store,
        DriveOptions::default().clock(Clock::fixed(FIXED_TIME)),
    )?)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Node's report on `path` in a dump.
fn report<'a>(dump: &'a Value, path: &str) -> Result<&'a Value> {
    dump["paths"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["path"] == path))
        .with_context(|| format!("no report on {path}: {dump}"))
}

fn node_reads(dump: &Value, path: &str, want: &[u8]) -> Result<()> {
    let r = report(dump, path)?;
    ensure!(r["stat"]["isFile"] == true, "{path}: {r}");
    ensure!(r["stat"]["size"] == want.len(), "{path}: {r}");
    ensure!(
        r["content"]["sha256"] == sha256(want).as_str(),
        "{path}: Node read other bytes: {r}"
    );
    Ok(())
}

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn node_reads_linked_names_copies_and_fifos_as_ordinary_stats() -> Result<()> {
    let tool = JsTool::find("drive-tool.js")?;
    let scratch = ddrive_tests::scratch()?;
    let dir = scratch.path().join("store");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("master_key"), [7u8; 32])?;

    // Two blocks and a bit, so Node's whole-block reads are tested too.
    let mut content: Vec<u8> = (0..1_100_000u32).map(|i| (i % 253) as u8).collect();
    {
        let d = open(&dir)?;
        d.write_file("/a", &content, &WriteOptions::default())?;
        d.link("/a", "/dir/b")?;
        d.append("/dir/b", b"appended through the second name")?;
        d.copy_file("/a", "/copy")?;
        d.mknod("/fifo", mode::S_IFIFO | 0o600, 0, &WriteOptions::default())?;
        d.flush()?;
    }
    content.extend_from_slice(b"appended through the second name");

    let query = Query {
        drive: "main".into(),
        now: FIXED_TIME,
        paths: ["/a", "/dir/b", "/copy", "/fifo"]
            .map(String::from)
            .to_vec(),
        dirs: vec!["/".into()],
        tags: vec![],
        diffs: vec![],
        checkouts: vec![],
    };
    let drives = vec!["main".to_owned()];
    let dump = tool
        .run_jobs(scratch.path(), &[dump_job(&dir, &drives, &query)])?
        .pop()
        .context("no dump")?;
    for path in ["/a", "/dir/b", "/copy"] {
        node_reads(&dump, path, &content)?;
    }
    let fifo = &report(&dump, "/fifo")?["stat"];
    ensure!(
        fifo["mode"].as_u64().map(|m| m as u32 & mode::S_IFMT) == Some(mode::S_IFIFO),
        "{fifo}"
    );
    let names = &dump["dirs"][0]["names"];
    for name in ["a", "dir", "copy", "fifo"] {
        ensure!(
            names
                .as_array()
                .is_some_and(|n| n.iter().any(|x| x == name)),
            "Node lists {names}"
        );
    }

    // Node rewrites one name (knowing nothing of the link): ddrive's next write through the
    // other name must leave Node's file alone.
    let script = Script {
        drives: drives.clone(),
        ops: vec![Op {
            drive: "main".into(),
            now: FIXED_TIME + 1000,
            kind: OpKind::Write {
                path: "/a".into(),
                size: 5000,
                seed: 3,
                opts: StatOpts::default(),
            },
        }],
    };
    tool.run_jobs(scratch.path(), &[run_job(&dir, &script)])?;
    let node_file = file_bytes(5000, 3);
    let d = open(&dir)?;
    ensure!(d.read_file("/a")? == node_file, "Node's write reads back");
    d.append("/dir/b", b"!")?;
    ensure!(
        d.read_file("/a")? == node_file,
        "ddrive's update left /a alone"
    );
    content.push(b'!');
    ensure!(d.read_file("/dir/b")? == content);
    ensure!(d.lstat("/dir/b")?.nlink() == 1, "/dir/b is alone now");
    ensure!(d.read_file("/copy")?.len() + 1 == content.len());
    Ok(())
}
