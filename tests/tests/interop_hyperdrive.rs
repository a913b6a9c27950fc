//! Hyperdrive 10 interop with Node's hyperdrive@10.21.0: the same operations (files of 0 B to
//! 3 MiB, a thousand small files in 30 directories, nested and explicit directories, symlinks,
//! a live and a static-version mount, tags, metadata, overwrites, truncates, deletes) written by
//! either side into a corestore with the same master key and a pinned clock give byte-identical
//! folders, and both implementations answer the same questions (every stat field, file hash,
//! readdir, tag, mount, diff and checkout) identically on their own drives and on each other's,
//! also when the two take turns writing one drive.
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop` once
//! `npm ci` has run in tests/js). Names, sizes and bytes are new every run; a failure names the
//! seed to replay with `DDRIVE_TEST_SEED`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use ddrive_tests::content::Prng;
use ddrive_tests::drive_script::{
    CheckoutQuery, DiffQuery, FIXED_TIME, Op, OpKind, Query, Script, StatOpts, dump_job, marks,
    run_job,
};
use ddrive_tests::js_tool::{JsTool, same_json};
use ddrive_tests::store_script::same_tree;
use ddrive_tests::{TestSeed, drive_ddrive};
use serde_json::Value;

/// An explicit time some writes carry instead of the clock's.
const T1: u64 = 1_500_000_000_000;
/// The clock while dumping (implicit directories and `/` are stamped with it).
const DUMP_NOW: u64 = 1_700_000_000_000;
const BLOCK: u32 = 512 * 1024;

/// Builds a script and remembers every path it touched, per drive.
struct Gen {
    rng: Prng,
    now: u64,
    ops: Vec<Op>,
    touched: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Gen {
    fn new(rng: Prng) -> Self {
        Gen {
            rng,
            now: FIXED_TIME,
            ops: Vec::new(),
            touched: BTreeMap::new(),
        }
    }

    fn below(&mut self, n: u32) -> u32 {
        self.rng.below(n)
    }

    fn push(&mut self, drive: &'static str, kind: OpKind) {
        // The clock moves on by up to 5 s per operation, so Stat times tell writes apart.
        self.now += 1 + u64::from(self.below(5000));
        let path = match &kind {
            OpKind::Write { path, .. }
            | OpKind::Mkdir { path, .. }
            | OpKind::Symlink { path, .. }
            | OpKind::Unlink { path }
            | OpKind::Rmdir { path }
            | OpKind::Truncate { path, .. }
            | OpKind::SetMetadata { path, .. }
            | OpKind::RemoveMetadata { path, .. }
            | OpKind::Mount { path, .. }
            | OpKind::Unmount { path } => Some(path.clone()),
            _ => None,
        };
        if let Some(path) = path {
            self.touched.entry(drive).or_default().insert(path);
        }
        self.ops.push(Op {
            drive: drive.into(),
            now: self.now,
            kind,
        });
    }

    fn write_with(&mut self, drive: &'static str, path: &str, size: u32, opts: StatOpts) {
        let seed = self.rng.next_u32();
        self.push(
            drive,
            OpKind::Write {
                path: path.into(),
                size,
                seed,
                opts,
            },
        );
    }

    fn write(&mut self, drive: &'static str, path: &str, size: u32) {
        self.write_with(drive, path, size, StatOpts::default());
    }

    fn mkdir(&mut self, drive: &'static str, path: &str) {
        self.push(
            drive,
            OpKind::Mkdir {
                path: path.into(),
                opts: StatOpts::default(),
            },
        );
    }

    fn mark(&mut self, drive: &'static str, name: &str) {
        self.push(drive, OpKind::Mark { name: name.into() });
    }

    fn hex(&mut self, len: u32) -> String {
        let bytes: Vec<u8> = (0..len).map(|_| self.rng.next_u32() as u8).collect();
        hex::encode(bytes)
    }

    fn paths(&self, drive: &str) -> BTreeSet<String> {
        self.touched.get(drive).cloned().unwrap_or_default()
    }
}

/// How big a scenario is.
struct Size {
    /// File sizes under `/files` (`f0.bin`, `f1.bin`, ...): 8 of them, the fifth not empty
    /// and the last more than one block and one byte.
    files: Vec<u32>,
    /// Small files under `/many`.
    many: u32,
    /// Directories they spread over.
    many_dirs: u32,
}

/// The drive: every kind of node, then changes to it. Marks `files`, `many`,
/// `before-changes` and `end` on `main`, `sub-a` and `sub-b` on `sub`.
fn scenario(rng: Prng, size: &Size) -> (Script, Gen) {
    let mut g = Gen::new(rng);

    // The drive that gets mounted.
    let n = g.below(2000);
    g.write("sub", "/hello-sub.txt", n);
    let n = g.below(3000);
    g.write("sub", "/docs/readme.md", n);
    g.mkdir("sub", "/docs/empty");
    g.mark("sub", "sub-a");

    // Files of every size class, some with explicit Stat fields.
    g.push(
        "main",
        OpKind::Mkdir {
            path: "/files".into(),
            opts: StatOpts {
                mtime: Some(T1),
                ctime: Some(T1 + 1),
                mode: Some(0o700),
                ..StatOpts::default()
            },
        },
    );
    for (i, &n) in size.files.iter().enumerate() {
        let opts = match i {
            1 => StatOpts {
                mtime: Some(T1 + 2),
                ctime: Some(T1 + 3),
                ..StatOpts::default()
            },
            2 => StatOpts {
                mode: Some(0o600),
                uid: Some(1000),
                gid: Some(100),
                ..StatOpts::default()
            },
            _ => StatOpts::default(),
        };
        g.write_with("main", &format!("/files/f{i}.bin"), n, opts);
    }
    g.mark("main", "files");
    g.push(
        "main",
        OpKind::CreateTag {
            name: "after-files".into(),
            version: None,
        },
    );

    let mut many = Vec::new();
    for i in 0..size.many {
        let dir = if i < size.many_dirs {
            i
        } else {
            g.below(size.many_dirs)
        };
        let path = format!("/many/d{dir:02}/f{i:04}.txt");
        let n = g.below(1500);
        g.write("main", &path, n);
        many.push(path);
    }
    g.mark("main", "many");

    // Nested directories, explicit and implicit.
    g.mkdir("main", "/nest");
    g.mkdir("main", "/nest/a");
    g.mkdir("main", "/nest/a/b");
    let n = g.below(100);
    g.write("main", "/nest/a/b/c/d/deep.txt", n);
    let n = g.below(100);
    g.write("main", "/nest/a/top.txt", n);
    g.mkdir("main", "/nest/a/b/c/d/e");

    // Symlinks: absolute, relative to a file and to a directory, dangling, and one that exists.
    for (target, link) in [
        ("/files/f3.bin", "/links/abs"),
        ("../files/f2.bin", "/links/rel-file"),
        ("../nest/a", "/links/rel-dir"),
        ("/nowhere", "/links/dangling"),
        ("/files/f1.bin", "/links/abs"),
    ] {
        g.push(
            "main",
            OpKind::Symlink {
                target: target.into(),
                path: link.into(),
            },
        );
    }

    // A live mount, a write through it, a static-version mount, then the mounted drive moves on.
    let mount = |path: &str, pinned| OpKind::Mount {
        path: path.into(),
        target: "sub".into(),
        pinned,
    };
    g.push("main", mount("/mnt", false));
    let n = g.below(500);
    g.write("main", "/mnt/through-parent.txt", n);
    g.mark("sub", "sub-b");
    g.push("main", mount("/pinned", true));
    let n = g.below(500);
    g.write("sub", "/after-pin.txt", n);
    g.push(
        "sub",
        OpKind::Unlink {
            path: "/hello-sub.txt".into(),
        },
    );
    g.push("main", mount("/gone", false));
    g.push(
        "main",
        OpKind::Unmount {
            path: "/gone".into(),
        },
    );
    g.push("main", mount("/files", false));

    // Tags.
    for (name, version) in [("v1", None), ("early", Some(3)), ("doomed", None)] {
        g.push(
            "main",
            OpKind::CreateTag {
                name: name.into(),
                version,
            },
        );
    }

    // Metadata on a file (integer-like keys sort first in JS objects) and on a directory.
    let author = g.hex(8);
    let ten = g.hex(3);
    let dir_meta = g.hex(5);
    for (path, key, value) in [
        ("/files/f2.bin", "author", author),
        ("/files/f2.bin", "10", ten),
        ("/files/f2.bin", "b", String::new()),
        ("/nest", "dir-meta", dir_meta),
        ("/nope", "x", "00".into()),
    ] {
        g.push(
            "main",
            OpKind::SetMetadata {
                path: path.into(),
                key: key.into(),
                value,
            },
        );
    }
    g.push(
        "main",
        OpKind::RemoveMetadata {
            path: "/files/f2.bin".into(),
            key: "author".into(),
        },
    );
    g.mark("main", "before-changes");

    // Overwrites.
    for _ in 0..3 {
        let path = many[g.below(many.len() as u32) as usize].clone();
        let n = g.below(2000);
        g.write("main", &path, n);
    }
    let n = BLOCK + 1 + g.below(BLOCK);
    g.write("main", "/files/f5.bin", n);
    let n = 1 + g.below(20);
    g.write("main", "/files/f0.bin", n);

    // Truncates: shorter across blocks, longer, to zero, same size, and a missing file. JS
    // pipes a shortened file into a write stream and grows one through an fd: where its
    // appends (hence signatures) fall depends on timing beyond two blocks shortened, or once
    // the grown content passes one 64 KiB batch. So the big file is shortened to two blocks,
    // and the file grown is a small one (with explicit mode and owner, and metadata, which
    // carry over).
    let last = size.files.len() - 1;
    let truncates = [
        (
            format!("/files/f{last}.bin"),
            u64::from(BLOCK + 1 + g.below(BLOCK.min(size.files[last] - BLOCK - 1))),
        ),
        (
            "/files/f2.bin".to_owned(),
            u64::from(size.files[2] + 1 + g.below(3000)),
        ),
        (many[0].clone(), 0),
        ("/files/f6.bin".to_owned(), u64::from(size.files[6])),
        (
            "/files/f4.bin".to_owned(),
            u64::from(g.below(size.files[4])),
        ),
        ("/made-by-truncate.txt".to_owned(), 5),
    ];
    for (path, size) in truncates {
        g.push("main", OpKind::Truncate { path, size });
    }

    // Deletes, and the errors JS gives.
    let mut doomed = BTreeSet::new();
    while doomed.len() < 5.min(many.len()) {
        doomed.insert(many[g.below(many.len() as u32) as usize].clone());
    }
    for path in doomed {
        g.push("main", OpKind::Unlink { path });
    }
    for kind in [
        OpKind::Unlink {
            path: "/nest/a/top.txt".into(),
        },
        OpKind::Rmdir {
            path: "/nest/a/b/c/d/e".into(),
        },
        OpKind::Rmdir {
            path: "/nest".into(),
        },
        OpKind::Unlink {
            path: "/nope".into(),
        },
        OpKind::Mkdir {
            path: "/files".into(),
            opts: StatOpts::default(),
        },
        OpKind::DeleteTag {
            name: "doomed".into(),
        },
        OpKind::CreateTag {
            name: "v2".into(),
            version: None,
        },
    ] {
        g.push("main", kind);
    }
    g.mark("main", "end");

    let script = Script {
        drives: vec!["main".into(), "sub".into()],
        ops: std::mem::take(&mut g.ops),
    };
    (script, g)
}

/// Every path with its parents, and the parents alone (the directories).
fn with_parents(paths: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let mut all = BTreeSet::from(["/".to_owned()]);
    let mut dirs = BTreeSet::from(["/".to_owned()]);
    for p in paths {
        let mut at = p.as_str();
        all.insert(p.clone());
        while let Some(i) = at.rfind('/') {
            at = &at[..i];
            let parent = if at.is_empty() { "/" } else { at };
            all.insert(parent.to_owned());
            dirs.insert(parent.to_owned());
        }
    }
    (all.into_iter().collect(), dirs.into_iter().collect())
}

/// What to ask `main` and `sub` after a scenario, given the marks a run reported.
fn queries(g: &Gen, marks: &BTreeMap<String, u64>) -> Result<(Query, Query)> {
    let mark = |name: &str| {
        marks
            .get(name)
            .copied()
            .with_context(|| format!("no mark {name}"))
    };
    let sub = g.paths("sub");
    let mut main_paths = g.paths("main");
    for p in &sub {
        main_paths.insert(format!("/mnt{p}"));
        main_paths.insert(format!("/pinned{p}"));
    }
    main_paths.insert("/mnt/after-pin.txt".into());
    let (paths, mut dirs) = with_parents(main_paths);
    // A file, a missing path and a symlinked directory asked as directories.
    dirs.extend(["/files/f1.bin", "/nope", "/links/rel-dir"].map(String::from));
    // Checkouts skip the thousand small files (listings cover them) and stay out of the live
    // mount: Node opens a live mount inside a checkout at the checkout's version number
    // (mountable-hypertrie's `_createHypertrie` spreads the checkout's `opts`, `version`
    // included), then waits forever for a block the mounted feed does not have. The mount
    // is made after `many`, so the earlier checkouts may list `/`.
    let few: Vec<String> = paths
        .iter()
        .filter(|p| !p.starts_with("/many/") && !p.starts_with("/mnt/"))
        .cloned()
        .collect();
    let checkouts = [
        ("files", &["/", "/files", "/links"][..]),
        ("many", &["/", "/files", "/many", "/many/d01"][..]),
        (
            "before-changes",
            &["/files", "/pinned", "/nest", "/links"][..],
        ),
    ]
    .iter()
    .map(|(m, dirs)| {
        Ok(CheckoutQuery {
            version: mark(m)?,
            paths: few.clone(),
            dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let diff = |from: Option<u64>, to: u64, prefix: &str| DiffQuery {
        from,
        to,
        prefix: prefix.into(),
    };
    let main = Query {
        drive: "main".into(),
        now: DUMP_NOW,
        paths,
        dirs,
        tags: ["v1", "early", "doomed", "v2", "after-files", "none"]
            .map(String::from)
            .into(),
        diffs: vec![
            diff(None, mark("before-changes")?, "/"),
            diff(None, mark("many")?, "/"),
            diff(Some(mark("many")?), mark("files")?, "/"),
            diff(None, mark("files")?, "/files"),
            diff(Some(mark("before-changes")?), 1, "/nest"),
        ],
        checkouts,
    };
    let (sub_paths, sub_dirs) = with_parents(sub.into_iter().chain(["/after-pin.txt".into()]));
    let sub_query = Query {
        drive: "sub".into(),
        now: DUMP_NOW,
        checkouts: vec![CheckoutQuery {
            version: mark("sub-a")?,
            paths: sub_paths.clone(),
            dirs: sub_dirs.clone(),
        }],
        diffs: vec![diff(None, mark("sub-a")?, "/"), diff(None, 1, "/docs")],
        paths: sub_paths,
        dirs: sub_dirs,
        tags: vec!["v1".into()],
    };
    Ok((main, sub_query))
}

fn new_store(dir: &Path, master_key: &[u8; 32]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("master_key"), master_key)?;
    Ok(())
}

/// Fails unless every op had the same outcome (version or error) on both sides.
fn same_runs(what: &str, got: &Value, want: &Value, script: &Script) -> Result<()> {
    let (g, w) = (&got["results"], &want["results"]);
    let count = script.ops.len();
    for i in 0..count {
        ensure!(
            g[i] == w[i],
            "{what}: op {i} {:?} gave {}, expected {}",
            script.ops[i],
            g[i],
            w[i]
        );
    }
    same_json(what, got, want)
}

fn drives_of(script: &Script) -> Vec<String> {
    script.drives.clone()
}

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn node_and_ddrive_write_identical_drives_and_read_each_other() -> Result<()> {
    TestSeed::from_env()?.run(|seed| {
        let tool = JsTool::find("drive-tool.js")?;
        let scratch = ddrive_tests::scratch()?;
        let root = scratch.path();
        let mut rng = seed.rng("hyperdrive-full");
        let master_key = rng.seed32();
        let mut files = vec![
            0,
            1,
            2 + rng.below(4095),
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + 1 + rng.below(100_000),
        ];
        files.push(3 * 1024 * 1024);
        let size = Size {
            files,
            many: 1000,
            many_dirs: 30,
        };
        let (script, g) = scenario(rng, &size);
        let drives = drives_of(&script);
        let (node_dir, our_dir) = (root.join("node"), root.join("ddrive"));
        new_store(&node_dir, &master_key)?;
        new_store(&our_dir, &master_key)?;

        let ours = drive_ddrive::run(&our_dir, &script).context("ddrive running the script")?;
        let theirs = tool.run_jobs(root, &[run_job(&node_dir, &script)])?;
        same_runs("ddrive's run vs Node's", &ours, &theirs[0], &script)?;
        same_tree(&node_dir, &our_dir).context("the store folders")?;

        let (main_q, sub_q) = queries(&g, &marks(&ours))?;
        let jobs = [
            dump_job(&node_dir, &drives, &main_q),
            dump_job(&node_dir, &drives, &sub_q),
            dump_job(&our_dir, &drives, &main_q),
            dump_job(&our_dir, &drives, &sub_q),
        ];
        let node = tool.run_jobs(root, &jobs)?;
        for (i, (label, q)) in [("main", &main_q), ("sub", &sub_q)].into_iter().enumerate() {
            let want = &node[i];
            same_json(
                &format!("{label}: Node reading ddrive's store"),
                &node[i + 2],
                want,
            )?;
            let got = drive_ddrive::dump(&node_dir, &drives, q)?;
            same_json(&format!("{label}: ddrive reading Node's store"), &got, want)?;
            let got = drive_ddrive::dump(&our_dir, &drives, q)?;
            same_json(
                &format!("{label}: ddrive reading its own store"),
                &got,
                want,
            )?;
        }
        Ok(())
    })
}

/// One writer's turn: which side, and which ops of the script.
struct Turn {
    node: bool,
    ops: std::ops::Range<usize>,
}

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn node_and_ddrive_take_turns_writing_one_drive() -> Result<()> {
    TestSeed::from_env()?.run(|seed| {
        let tool = JsTool::find("drive-tool.js")?;
        let scratch = ddrive_tests::scratch()?;
        let root = scratch.path();
        let mut rng = seed.rng("hyperdrive-turns");
        let master_key = rng.seed32();
        let files = vec![
            rng.below(10),
            1 + rng.below(100),
            1 + rng.below(4000),
            BLOCK + rng.below(1000),
            1 + rng.below(3000),
            1 + rng.below(3000),
            1 + rng.below(3000),
            BLOCK + 2 + rng.below(BLOCK),
        ];
        let size = Size {
            files,
            many: 40,
            many_dirs: 6,
        };
        let (script, g) = scenario(rng, &size);
        let drives = drives_of(&script);
        let n = script.ops.len();
        let (a, b) = (n / 3, 2 * n / 3);

        // The reference: ddrive writes everything alone.
        let reference = root.join("reference");
        new_store(&reference, &master_key)?;
        let whole = drive_ddrive::run(&reference, &script)?;

        // Node, ddrive, Node into one folder; ddrive, Node, ddrive into another. Turns of the
        // same side in different folders share one Node process.
        let (node_first, ours_first) = (root.join("node-first"), root.join("ddrive-first"));
        new_store(&node_first, &master_key)?;
        new_store(&ours_first, &master_key)?;
        let turns = |node_starts| {
            [
                Turn {
                    node: node_starts,
                    ops: 0..a,
                },
                Turn {
                    node: !node_starts,
                    ops: a..b,
                },
                Turn {
                    node: node_starts,
                    ops: b..n,
                },
            ]
        };
        let mut results: BTreeMap<bool, Vec<Value>> = BTreeMap::new();
        let mut marks_of: BTreeMap<bool, BTreeMap<String, u64>> = BTreeMap::new();
        for step in 0..3 {
            let mut node_jobs = Vec::new();
            let mut node_for = Vec::new();
            for (node_starts, dir) in [(true, &node_first), (false, &ours_first)] {
                let turn = &turns(node_starts)[step];
                let part = script.part(turn.ops.clone());
                if turn.node {
                    node_jobs.push(run_job(dir, &part));
                    node_for.push(node_starts);
                } else {
                    let report = drive_ddrive::run(dir, &part)?;
                    results.entry(node_starts).or_default().push(report);
                }
            }
            for (report, node_starts) in tool.run_jobs(root, &node_jobs)?.into_iter().zip(node_for)
            {
                results.entry(node_starts).or_default().push(report);
            }
        }
        for (node_starts, reports) in &results {
            let mut ops = Vec::new();
            let mut all_marks = BTreeMap::new();
            for r in reports {
                ops.extend(r["results"].as_array().cloned().unwrap_or_default());
                all_marks.extend(marks(r));
            }
            let joined = serde_json::json!({
                "results": ops,
                "marks": all_marks,
                "keys": reports[0]["keys"],
            });
            let what = if *node_starts {
                "Node first"
            } else {
                "ddrive first"
            };
            same_runs(
                &format!("{what}: turns vs one writer"),
                &joined,
                &whole,
                &script,
            )?;
            marks_of.insert(*node_starts, all_marks);
        }
        same_tree(&node_first, &reference).context("Node first vs one writer")?;
        same_tree(&ours_first, &reference).context("ddrive first vs one writer")?;

        // Everyone reads everything.
        let (main_q, sub_q) = queries(&g, &marks(&whole))?;
        let dirs = [&reference, &node_first, &ours_first];
        let mut jobs = Vec::new();
        for dir in dirs {
            jobs.push(dump_job(dir, &drives, &main_q));
            jobs.push(dump_job(dir, &drives, &sub_q));
        }
        let node = tool.run_jobs(root, &jobs)?;
        let (want_main, want_sub) = (&node[0], &node[1]);
        for (i, dir) in dirs.iter().enumerate() {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            same_json(
                &format!("Node reading {name} (main)"),
                &node[2 * i],
                want_main,
            )?;
            same_json(
                &format!("Node reading {name} (sub)"),
                &node[2 * i + 1],
                want_sub,
            )?;
            let got = drive_ddrive::dump(dir, &drives, &main_q)?;
            same_json(&format!("ddrive reading {name} (main)"), &got, want_main)?;
            let got = drive_ddrive::dump(dir, &drives, &sub_q)?;
            same_json(&format!("ddrive reading {name} (sub)"), &got, want_sub)?;
        }
        Ok(())
    })
}
