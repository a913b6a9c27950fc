//! Corestore 5 interop with Node's corestore@5.8.2: each side opens the other's store folder,
//! derives the same keys for the same names and namespaces, finds cores by key and by
//! discovery key, reads and appends to them, and the other side then audits them clean; the
//! same cores written into two stores with the same master key are byte-identical folders.
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop` once
//! `npm ci` has run in tests/js). Content is new every run; a failure names the seed to replay
//! with `DDRIVE_TEST_SEED`.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use ddrive_tests::content::{Batch, Prng};
use ddrive_tests::js_tool::JsTool;
use ddrive_tests::store_script::{self, CoreReport, Entry, Via, expected, same_tree, tree};
use ddrive_tests::{TestSeed, parse};
use serde_json::{Value, json};

const UNICODE_NAME: &str = "ünï名 🦀";

fn batches(rng: &mut Prng, sizes: &[u32]) -> Vec<Batch> {
    sizes
        .iter()
        .map(|&n| Batch::random(n, 0, 300, rng.next_u32()))
        .collect()
}

fn blocks(batches: &[Batch]) -> Vec<Vec<u8>> {
    batches.iter().flat_map(Batch::blocks).collect()
}

fn visit_job(dir: &Path, entries: &[Entry]) -> Value {
    let entries: Vec<Value> = entries.iter().map(Entry::to_json).collect();
    json!({ "op": "visit", "dir": dir, "entries": entries })
}

fn reports(v: &Value) -> Result<Vec<CoreReport>> {
    v.as_array()
        .context("expected an array")?
        .iter()
        .map(parse)
        .collect()
}

fn node_visit(
    tool: &JsTool,
    scratch: &Path,
    dir: &Path,
    entries: &[Entry],
) -> Result<Vec<CoreReport>> {
    let out = tool.run_jobs(scratch, &[visit_job(dir, entries)])?;
    reports(&out[0])
}

fn same_reports(
    what: &str,
    got: &[CoreReport],
    want: &[CoreReport],
    labels: &[&str],
) -> Result<()> {
    ensure!(
        got.len() == want.len(),
        "{what}: {} reports, expected {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        ensure!(
            g == w,
            "{what}: core {} ({}):\ngot      {g:?}\nexpected {w:?}",
            i,
            labels[i]
        );
    }
    Ok(())
}

fn core_dir(root: &Path, dk_hex: &str) -> Result<std::path::PathBuf> {
    let dk = store_script::bytes32(dk_hex)?;
    Ok(root.join(corestore::core_path(&dk)))
}

/// varint(len) || name, as derived-key-storage writes it (names here are under 128 bytes).
fn name_file(name: &str) -> Vec<u8> {
    let mut out = vec![name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out
}

/// The cores of a store written by one side: every way to name a core, with content.
fn named_entries(rng: &mut Prng) -> (Vec<&'static str>, Vec<Entry>) {
    let labels = vec![
        "default",
        "named",
        "namespace ns",
        "namespace ns:inner",
        "non-ASCII name",
        "explicit name asked in ns",
    ];
    let entries = vec![
        Entry {
            via: Via::default_feed(&[]),
            batches: batches(rng, &[3, 2]),
        },
        Entry {
            via: Via::name(&[], "named"),
            batches: batches(rng, &[4]),
        },
        Entry {
            via: Via::default_feed(&["ns"]),
            batches: batches(rng, &[2]),
        },
        Entry {
            via: Via::default_feed(&["ns", "inner"]),
            batches: batches(rng, &[1, 1]),
        },
        Entry {
            via: Via::name(&[], UNICODE_NAME),
            batches: batches(rng, &[1]),
        },
        Entry {
            via: Via::name(&["ns"], "named-in-ns"),
            batches: batches(rng, &[2]),
        },
    ];
    (labels, entries)
}

/// The names the cores of [`named_entries`] derive from (namespaces join with `:`).
const DERIVED_NAMES: [&str; 6] = [
    "default",
    "named",
    "ns",
    "ns:inner",
    UNICODE_NAME,
    "named-in-ns",
];

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn node_store_opens_in_ddrive_and_back() -> Result<()> {
    TestSeed::from_env()?.run(|seed| {
        let tool = JsTool::find("store-tool.js")?;
        let scratch = ddrive_tests::scratch()?;
        let root = scratch.path();
        let store = root.join("node-store");
        let mut rng = seed.rng("node-store");

        let (mut labels, mut entries) = named_entries(&mut rng);
        let pair_seed = rng.seed32();
        labels.push("explicit key pair");
        entries.push(Entry {
            via: Via::key_pair(&pair_seed),
            batches: batches(&mut rng, &[3]),
        });
        let made = node_visit(&tool, root, &store, &entries)?;
        let want: Vec<CoreReport> = made
            .iter()
            .zip(&entries)
            .map(|(r, e)| expected(&r.key, &r.discovery_key, &blocks(&e.batches), true))
            .collect();
        same_reports("Node building its store", &made, &want, &labels)?;
        ensure!(
            made[6].key == hypercore::KeyPair::from_seed(&pair_seed).public.to_hex(),
            "the key-pair core has another key"
        );

        // The layout: derived cores have a name file and no secret key; the key-pair core the
        // other way round.
        for (i, name) in DERIVED_NAMES.iter().enumerate() {
            let dir = core_dir(&store, &made[i].discovery_key)?;
            let stored = std::fs::read(dir.join("name"))
                .with_context(|| format!("{} name file", labels[i]))?;
            ensure!(
                stored == name_file(name),
                "{}: name file {stored:?}",
                labels[i]
            );
            ensure!(
                !dir.join("secret_key").exists(),
                "{}: Node wrote a secret_key",
                labels[i]
            );
        }
        let pair_dir = core_dir(&store, &made[6].discovery_key)?;
        ensure!(pair_dir.join("secret_key").exists() && !pair_dir.join("name").exists());
        let files_before = tree(&store)?;

        // ddrive opens Node's folder: the same keys from the same names (default feed,
        // namespaces, non-ASCII), cores found by discovery key and by key (the key-pair core
        // writable from its secret_key), and appends to each.
        let more: Vec<Vec<Batch>> = (0..entries.len())
            .map(|_| batches(&mut rng, &[2, 1]))
            .collect();
        let routes = [
            Via::default_feed(&[]),
            Via::discovery_key(&made[1].discovery_key),
            Via::default_feed(&["ns"]),
            Via::default_feed(&["ns", "inner"]),
            Via::name(&[], UNICODE_NAME),
            Via::name(&[], "named-in-ns"),
            Via::key(&made[6].key),
        ];
        let ours: Vec<Entry> = routes
            .iter()
            .zip(&more)
            .map(|(via, b)| Entry {
                via: via.clone(),
                batches: b.clone(),
            })
            .collect();
        let appended = store_script::visit(&store, &ours)?;
        let want: Vec<CoreReport> = made
            .iter()
            .zip(entries.iter().zip(&more))
            .map(|(r, (e, m))| {
                let mut all = blocks(&e.batches);
                all.extend(blocks(m));
                expected(&r.key, &r.discovery_key, &all, true)
            })
            .collect();
        same_reports(
            "ddrive opening Node's store and appending",
            &appended,
            &want,
            &labels,
        )?;
        let files_after = tree(&store)?;
        ensure!(
            files_before == files_after,
            "ddrive changed the file set: {:?}",
            files_before
                .symmetric_difference(&files_after)
                .collect::<Vec<_>>()
        );

        // Node reopens its folder and finds ddrive's appends, auditing clean.
        let back: Vec<Entry> = made
            .iter()
            .enumerate()
            .map(|(i, r)| Entry {
                via: if i == 2 {
                    Via::discovery_key(&r.discovery_key)
                } else {
                    Via::key(&r.key)
                },
                batches: Vec::new(),
            })
            .collect();
        let reread = node_visit(&tool, root, &store, &back)?;
        same_reports(
            "Node reading its store after ddrive appended",
            &reread,
            &want,
            &labels,
        )?;
        Ok(())
    })
}

#[test]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
fn ddrive_store_opens_in_node_and_matches_node_byte_for_byte() -> Result<()> {
    TestSeed::from_env()?.run(|seed| {
        let tool = JsTool::find("store-tool.js")?;
        let scratch = ddrive_tests::scratch()?;
        let root = scratch.path();
        let ours_dir = root.join("ddrive-store");
        let node_dir = root.join("node-store");
        let mut rng = seed.rng("ddrive-store");

        let (labels, entries) = named_entries(&mut rng);
        let ours = store_script::visit(&ours_dir, &entries)?;
        let want: Vec<CoreReport> = ours
            .iter()
            .zip(&entries)
            .map(|(r, e)| expected(&r.key, &r.discovery_key, &blocks(&e.batches), true))
            .collect();
        same_reports("ddrive building its store", &ours, &want, &labels)?;

        // Node, given our master key, derives the same cores and writes the same bytes.
        std::fs::create_dir_all(&node_dir)?;
        std::fs::copy(ours_dir.join("master_key"), node_dir.join("master_key"))?;
        let theirs = node_visit(&tool, root, &node_dir, &entries)?;
        same_reports("Node building the same store", &theirs, &ours, &labels)?;
        same_tree(&node_dir, &ours_dir).context("the two stores' files")?;
        let files_before = tree(&ours_dir)?;

        // Node opens our folder: by key, by discovery key, by name through a namespace; it can
        // sign for every core (the names are there) and appends.
        let more: Vec<Vec<Batch>> = (0..entries.len())
            .map(|_| batches(&mut rng, &[1, 2]))
            .collect();
        let routes = [
            Via::key(&ours[0].key),
            Via::discovery_key(&ours[1].discovery_key),
            Via::default_feed(&["ns"]),
            Via::key(&ours[3].key),
            Via::name(&[], UNICODE_NAME),
            Via::discovery_key(&ours[5].discovery_key),
        ];
        let node_entries: Vec<Entry> = routes
            .iter()
            .zip(&more)
            .map(|(via, b)| Entry {
                via: via.clone(),
                batches: b.clone(),
            })
            .collect();
        let appended = node_visit(&tool, root, &ours_dir, &node_entries)?;
        let want: Vec<CoreReport> = ours
            .iter()
            .zip(entries.iter().zip(&more))
            .map(|(r, (e, m))| {
                let mut all = blocks(&e.batches);
                all.extend(blocks(m));
                expected(&r.key, &r.discovery_key, &all, true)
            })
            .collect();
        same_reports(
            "Node opening ddrive's store and appending",
            &appended,
            &want,
            &labels,
        )?;
        let files_after = tree(&ours_dir)?;
        ensure!(
            files_before == files_after,
            "Node changed the file set: {:?}",
            files_before
                .symmetric_difference(&files_after)
                .collect::<Vec<_>>()
        );

        // ddrive reopens its folder and reads Node's appends, auditing clean.
        let back: Vec<Entry> = ours
            .iter()
            .enumerate()
            .map(|(i, r)| Entry {
                via: if i % 2 == 0 {
                    Via::discovery_key(&r.discovery_key)
                } else {
                    Via::key(&r.key)
                },
                batches: Vec::new(),
            })
            .collect();
        let reread = store_script::visit(&ours_dir, &back)?;
        same_reports(
            "ddrive reading its store after Node appended",
            &reread,
            &want,
            &labels,
        )?;
        Ok(())
    })
}
