//! multidrive interop with Node's multi-hyperdrive@1.1.4: Node and ddrive replay the same
//! seeded script into two drives of a store (files only in A, only in B, in both with far-apart
//! ctimes, a directory only in B) and then through the union (writes over files in both and
//! into B's directory, unlink of a file only in B and of one in both, unlink then rewrite,
//! mkdir). The tombstone records both write are byte-identical, and the union views (resolved
//! drive, size, ctime and content of every path, readdir sets, the winner of each file a
//! listing with stats names) agree four ways: each side
//! reading its own store and the other's.
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop --test
//! interop_multidrive` once `npm ci` has run in tests/js). A failure names the seed to replay
//! with `DDRIVE_TEST_SEED`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use ddrive_tests::TestSeed;
use ddrive_tests::content::Prng;
use ddrive_tests::drive_script::FIXED_TIME;
use ddrive_tests::js_tool::{JsTool, same_json};
use ddrive_tests::multi_script::{
    self, MultiOp, MultiOpKind, MultiQuery, MultiScript, UNION, dump_job, run_job,
};
use serde_json::Value;

/// Explicit ctimes of the files written straight into the drives lie far before the script's
/// clock, so every write through the union is newer by the clock too.
const OLD: u64 = 1_000_000_000_000;
const DUMP_NOW: u64 = 1_700_000_000_000;

struct Gen {
    rng: Prng,
    now: u64,
    ops: Vec<MultiOp>,
    paths: BTreeSet<String>,
    through_union: BTreeSet<String>,
}

impl Gen {
    fn push(&mut self, on: &str, kind: MultiOpKind) {
        self.now += 1 + u64::from(self.rng.below(5000));
        let path = match &kind {
            MultiOpKind::Write { path, .. }
            | MultiOpKind::Mkdir { path }
            | MultiOpKind::Unlink { path } => path.clone(),
        };
        self.paths.insert(path.clone());
        if on == UNION {
            self.through_union.insert(path);
        }
        self.ops.push(MultiOp {
            on: on.into(),
            now: self.now,
            kind,
        });
    }

    fn write(&mut self, on: &str, path: &str, ctime: Option<u64>) {
        let size = self.rng.below(3000);
        let seed = self.rng.next_u32();
        self.push(
            on,
            MultiOpKind::Write {
                path: path.into(),
                size,
                seed,
                ctime,
            },
        );
    }

    fn name(&mut self, stem: &str) -> String {
        format!("{stem}{}", self.rng.below(1_000_000))
    }
}

fn scenario(rng: Prng) -> (MultiScript, Gen) {
    let mut g = Gen {
        rng,
        now: FIXED_TIME,
        ops: Vec::new(),
        paths: BTreeSet::new(),
        through_union: BTreeSet::new(),
    };
    let mut only_b = Vec::new();
    let mut both = Vec::new();
    for i in 0..4 {
        let p = format!("/docs/{}", g.name(&format!("a{i}-")));
        g.write("a", &p, None);
    }
    for i in 0..4 {
        let p = format!("/docs/{}", g.name(&format!("b{i}-")));
        g.write("b", &p, None);
        only_b.push(p);
    }
    // Far-apart ctimes, either drive newer.
    for i in 0..6 {
        let p = format!("/shared/{}", g.name(&format!("s{i}-")));
        let gap = 1_000_000 + u64::from(g.rng.below(1_000_000_000));
        let (ta, tb) = if g.rng.below(2) == 0 {
            (OLD + gap, OLD)
        } else {
            (OLD, OLD + gap)
        };
        g.write("a", &p, Some(ta));
        g.write("b", &p, Some(tb));
        both.push(p);
    }
    let bdir = format!("/{}", g.name("bonly"));
    g.write("b", &format!("{bdir}/one"), None);
    g.write("b", &format!("{bdir}/sub/two"), None);

    // Through the union.
    g.push(
        UNION,
        MultiOpKind::Unlink {
            path: only_b[0].clone(),
        },
    );
    g.push(
        UNION,
        MultiOpKind::Unlink {
            path: both[0].clone(),
        },
    );
    g.push(
        UNION,
        MultiOpKind::Unlink {
            path: both[1].clone(),
        },
    );
    g.write(UNION, &both[1], None);
    g.push(
        UNION,
        MultiOpKind::Unlink {
            path: only_b[1].clone(),
        },
    );
    g.write(UNION, &only_b[1], None);
    g.write(UNION, &both[2], None);
    g.write(UNION, &format!("{bdir}/new"), None);
    g.write(UNION, &format!("{bdir}/sub/deeper/new"), None);
    let fresh = format!("/{}/made", g.name("fresh"));
    g.push(UNION, MultiOpKind::Mkdir { path: fresh });
    let script = MultiScript {
        drives: vec!["a".into(), "b".into()],
        ops: g.ops.clone(),
    };
    (script, g)
}

/// `path` and its ancestors up to (not including) `/`.
fn with_parents(paths: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in paths {
        let mut cur = p.as_str();
        while cur != "/" && !cur.is_empty() {
            out.insert(cur.to_owned());
            cur = match cur.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &cur[..i],
            };
        }
    }
    out
}

fn query(g: &Gen) -> MultiQuery {
    let paths = with_parents(&g.paths);
    let mut dirs: BTreeSet<String> = paths
        .iter()
        .filter_map(|p| {
            p.rfind('/')
                .map(|i| if i == 0 { "/" } else { &p[..i] }.to_owned())
        })
        .collect();
    dirs.insert("/".into());
    MultiQuery {
        now: DUMP_NOW,
        paths: paths.into_iter().collect(),
        dirs: dirs.into_iter().collect(),
        tombstones: with_parents(&g.through_union).into_iter().collect(),
    }
}

fn new_store(dir: &Path, master_key: &[u8; 32]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("master_key"), master_key)?;
    Ok(())
}

/// The tombstone records present in a dump, so a test can insist the script made some.
fn records(dump: &Value) -> usize {
    dump["tombstones"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t["records"]
                        .as_object()
                        .into_iter()
                        .flat_map(|r| r.values())
                })
                .filter(|v| !v.is_null())
                .count()
        })
        .unwrap_or(0)
}

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn node_and_ddrive_unions_agree_four_ways() -> Result<()> {
    TestSeed::from_env()?.run(|seed| {
        let tool = JsTool::find("multi-tool.js")?;
        let scratch = ddrive_tests::scratch()?;
        let root = scratch.path();
        let mut rng = seed.rng("multidrive");
        let master_key = rng.seed32();
        let (script, g) = scenario(rng);
        let (node_dir, our_dir) = (root.join("node"), root.join("ddrive"));
        new_store(&node_dir, &master_key)?;
        new_store(&our_dir, &master_key)?;

        let ours = multi_script::run(&our_dir, &script).context("ddrive running the script")?;
        let q = query(&g);
        let node = tool.run_jobs(
            root,
            &[
                run_job(&node_dir, &script),
                dump_job(&node_dir, &script.drives, &q),
                dump_job(&our_dir, &script.drives, &q),
            ],
        )?;
        same_json("ddrive's run vs Node's", &ours, &node[0])?;
        let want = &node[1];
        // unlink of a file only in B, of two in both and of one rewritten: four records, two
        // of them erased by the rewrites.
        ensure!(
            records(want) >= 4,
            "the script left too few tombstones: {want}"
        );
        let listed_files = want["dirs"].as_array().map_or(0, |ds| {
            ds.iter()
                .filter_map(|d| d["files"].as_array())
                .map(Vec::len)
                .sum()
        });
        ensure!(
            listed_files >= 10,
            "listings with stats named too few files: {want}"
        );
        same_json("Node reading ddrive's store", &node[2], want)?;
        let got = multi_script::dump(&node_dir, &script.drives, &q)?;
        same_json("ddrive reading Node's store", &got, want)?;
        let got = multi_script::dump(&our_dir, &script.drives, &q)?;
        same_json("ddrive reading its own store", &got, want)?;
        Ok(())
    })
}
