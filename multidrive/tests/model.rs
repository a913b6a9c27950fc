//! Model-based test: random sequences of writes through the union, concurrent writes by each
//! peer on its own (a union of its drive alone, which sees nothing of the others), unlinks and
//! clock steps, checked after every step against an in-memory model of the union: what each
//! path resolves to (member, ctime, bytes), the listing, and the conflict list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use corestore::Corestore;
use hyperdrive::{Clock, Drive, DriveOptions, ReaddirOptions, WriteOptions, errno};
use multidrive::MultiDrive;
use proptest::prelude::*;

const DRIVES: usize = 3;
const PATHS: [&str; 3] = ["/f0", "/f1", "/f2"];

#[derive(Clone, Debug)]
enum Op {
    /// A write through a union of every member whose writer is drive `by` (it saw them all).
    Write { by: usize, path: usize, byte: u8 },
    /// A write by `peer` through a union of its own drive only.
    PeerWrite { peer: usize, path: usize, byte: u8 },
    /// An unlink through a union of every member whose writer is drive `by`.
    Unlink { by: usize, path: usize },
    /// The clock moves on by `ms` (0: writes that tie on ctime).
    Tick { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..DRIVES, 0..PATHS.len(), any::<u8>()).prop_map(|(by, path, byte)| Op::Write {
            by,
            path,
            byte
        }),
        (0..DRIVES, 0..PATHS.len(), any::<u8>()).prop_map(|(peer, path, byte)| Op::PeerWrite {
            peer,
            path,
            byte
        }),
        (0..DRIVES, 0..PATHS.len()).prop_map(|(by, path)| Op::Unlink { by, path }),
        (0u64..3).prop_map(|ms| Op::Tick { ms }),
    ]
}

/// Member order of the union whose writer is drive `first`: it, then the rest in order.
fn led_by(first: usize) -> Vec<usize> {
    std::iter::once(first)
        .chain((0..DRIVES).filter(|&d| d != first))
        .collect()
}

/// A drive's entry for a path in the model.
#[derive(Clone, Debug)]
struct Entry {
    id: u64,
    data: Vec<u8>,
    ctime: u64,
    /// Ids of the entries and tombstones its write had seen.
    saw: BTreeSet<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Mark {
    id: u64,
    active: bool,
    timestamp: u64,
}

#[derive(Default)]
struct Model {
    next: u64,
    now: u64,
    /// `[drive][path]`.
    files: Vec<BTreeMap<usize, Entry>>,
    marks: Vec<BTreeMap<usize, Mark>>,
}

/// What a path resolves to: the heads, best first (member index, entry).
type Heads = Vec<(usize, Entry)>;

impl Model {
    fn new() -> Self {
        Model {
            now: 1_000,
            files: vec![BTreeMap::new(); DRIVES],
            marks: vec![BTreeMap::new(); DRIVES],
            ..Model::default()
        }
    }

    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The newest tombstone among `drives` (ties to the lower index).
    fn mark(&self, drives: &[usize], path: usize) -> Option<Mark> {
        let mut best: Option<Mark> = None;
        for &d in drives {
            if let Some(m) = self.marks[d].get(&path)
                && best.is_none_or(|b| m.timestamp > b.timestamp)
            {
                best = Some(*m);
            }
        }
        best
    }

    /// The heads of `path` in a union whose members are in `order` (ties go to the earlier
    /// member, so unions led by different writers may break them differently).
    fn heads(&self, path: usize, order: &[usize]) -> Heads {
        let mark = self.mark(order, path).filter(|m| m.active);
        let live: Vec<(usize, Entry)> = order
            .iter()
            .copied()
            .filter_map(|d| self.files[d].get(&path).map(|e| (d, e.clone())))
            .filter(|(_, e)| mark.is_none_or(|m| e.saw.contains(&m.id)))
            .collect();
        let mut heads: Heads = live
            .iter()
            .filter(|(_, e)| !live.iter().any(|(_, o)| o.saw.contains(&e.id)))
            .cloned()
            .collect();
        let rank = |d: &usize| order.iter().position(|o| o == d);
        heads.sort_by(|(da, a), (db, b)| b.ctime.cmp(&a.ctime).then(rank(da).cmp(&rank(db))));
        heads
    }

    /// A write into `drive` by a union of `members`.
    fn write(&mut self, members: &[usize], drive: usize, path: usize, data: Vec<u8>) {
        let mut saw = BTreeSet::new();
        for &d in members {
            if let Some(e) = self.files[d].get(&path) {
                saw.insert(e.id);
            }
            if let Some(m) = self.marks[d].get(&path) {
                saw.insert(m.id);
            }
        }
        let id = self.id();
        let ctime = self.now;
        self.files[drive].insert(
            path,
            Entry {
                id,
                data,
                ctime,
                saw,
            },
        );
        if let Some(m) = self.mark(members, path).filter(|m| m.active) {
            let id = self.id();
            self.marks[drive].insert(
                path,
                Mark {
                    id,
                    active: false,
                    timestamp: self.now.max(m.timestamp + 1),
                },
            );
        }
    }

    /// An unlink through a union written by `by`; `false` when the path resolves to nothing
    /// (ENOENT).
    fn unlink(&mut self, by: usize, path: usize) -> bool {
        if self.heads(path, &led_by(by)).is_empty() {
            return false;
        }
        if (0..DRIVES).any(|d| d != by && self.files[d].contains_key(&path)) {
            let all: Vec<usize> = (0..DRIVES).collect();
            // A new record always comes after the newest one.
            let timestamp = self
                .mark(&all, path)
                .map_or(self.now, |m| self.now.max(m.timestamp + 1));
            let id = self.id();
            self.marks[by].insert(
                path,
                Mark {
                    id,
                    active: true,
                    timestamp,
                },
            );
        }
        self.files[by].remove(&path);
        true
    }
}

struct Real {
    drives: Vec<Drive>,
    /// The union checked: members in drive order.
    union: MultiDrive,
    /// Per drive, a union of every member with that drive first (its writer).
    written_by: Vec<MultiDrive>,
    now: Arc<AtomicU64>,
}

impl Real {
    fn new() -> Self {
        let store = Arc::new(Corestore::in_memory().expect("store"));
        let now = Arc::new(AtomicU64::new(1_000));
        let drives: Vec<Drive> = (0..DRIVES)
            .map(|i| {
                let reading = Arc::clone(&now);
                let options = DriveOptions::default()
                    .clock(Clock::from_fn(move || reading.load(Ordering::SeqCst)));
                let view = Arc::new(store.namespace(&format!("d{i}")).expect("namespace"));
                Drive::create(view, options).expect("drive")
            })
            .collect();
        let union_led_by = |first: usize| {
            let u = MultiDrive::new(drives[first].clone());
            for (i, d) in drives.iter().enumerate() {
                if i != first {
                    u.add_drive(d.clone());
                }
            }
            u
        };
        let union = union_led_by(0);
        let written_by = (0..DRIVES).map(union_led_by).collect();
        Real {
            drives,
            union,
            written_by,
            now,
        }
    }
}

fn check(real: &Real, model: &Model) -> Result<(), TestCaseError> {
    let u = &real.union;
    let mut listed = BTreeSet::new();
    let mut conflicted = BTreeSet::new();
    for (i, path) in PATHS.iter().enumerate() {
        let heads = model.heads(i, &led_by(0));
        match heads.first() {
            None => {
                let err = u.stat(path).expect_err("resolves to nothing");
                prop_assert_eq!(err.errno(), errno::ENOENT, "{}", path);
                prop_assert!(!u.exists(path).expect("exists"));
            }
            Some((drive, e)) => {
                let st = u.stat(path).expect("stat");
                prop_assert_eq!(st.drive, *real.drives[*drive].key(), "{}", path);
                prop_assert_eq!(st.stat.ctime, e.ctime, "{}", path);
                prop_assert_eq!(&u.read_file(path).expect("read"), &e.data);
                listed.insert(path[1..].to_owned());
            }
        }
        if heads.len() > 1 {
            conflicted.insert((path.to_string(), heads.len()));
        }
    }
    let names: BTreeSet<String> = u
        .readdir("/", &ReaddirOptions::default())
        .expect("readdir")
        .into_iter()
        .collect();
    prop_assert_eq!(names, listed);
    let conflicts: BTreeSet<(String, usize)> = u
        .conflicts("/")
        .expect("conflicts")
        .into_iter()
        .map(|c| (c.path, c.versions.len()))
        .collect();
    prop_assert_eq!(conflicts, conflicted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_union_behaves_as_its_model(ops in proptest::collection::vec(op(), 1..40)) {
        let real = Real::new();
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Tick { ms } => {
                    model.now += ms;
                    real.now.fetch_add(ms, Ordering::SeqCst);
                }
                Op::Write { by, path, byte } => {
                    let data = vec![byte; 1 + usize::from(byte % 7)];
                    real.written_by[by]
                        .write_file(PATHS[path], &data, &WriteOptions::default())
                        .expect("write");
                    let all: Vec<usize> = (0..DRIVES).collect();
                    model.write(&all, by, path, data);
                }
                Op::PeerWrite { peer, path, byte } => {
                    let data = vec![byte; 1 + usize::from(byte % 5)];
                    MultiDrive::new(real.drives[peer].clone())
                        .write_file(PATHS[path], &data, &WriteOptions::default())
                        .expect("peer write");
                    model.write(&[peer], peer, path, data);
                }
                Op::Unlink { by, path } => {
                    let r = real.written_by[by].unlink(PATHS[path]);
                    if model.unlink(by, path) {
                        r.expect("unlink");
                    } else {
                        prop_assert_eq!(r.expect_err("ENOENT").errno(), errno::ENOENT);
                    }
                }
            }
            check(&real, &model)?;
        }
    }
}
