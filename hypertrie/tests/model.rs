//! Model check: random puts, deletes and batches against a `BTreeMap`; get, list, checkout and
//! diff must agree with the model after every sequence.

use std::collections::BTreeMap;

use hypercore::{Feed, MemoryStorage};
use hypertrie::{BatchOp, DelOptions, DiffOptions, GetOptions, Hypertrie, IterOptions, PutOptions};
use proptest::prelude::*;

const KEYS: [&str; 10] = [
    "a", "a/b", "a/b/c", "a/c", "b", "b/a", "c/d/e", "/d", "e/", "f//g",
];

/// Model keys are normalised the way the trie stores them.
fn norm(key: &str) -> String {
    key.strip_prefix('/').unwrap_or(key).to_owned()
}

type Model = BTreeMap<(bool, String), Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    Put(usize, bool, u8),
    Del(usize, bool),
    Batch(Vec<(bool, usize, bool, u8)>),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (key.clone(), any::<bool>(), any::<u8>()).prop_map(|(k, h, v)| Op::Put(k, h, v)),
        2 => (key.clone(), any::<bool>()).prop_map(|(k, h)| Op::Del(k, h)),
        1 => proptest::collection::vec((any::<bool>(), key, any::<bool>(), any::<u8>()), 0..6)
            .prop_map(Op::Batch),
    ]
}

fn apply(trie: &mut Hypertrie<MemoryStorage>, model: &mut Model, op: &Op) -> hypertrie::Result<()> {
    match op {
        Op::Put(k, h, v) => {
            trie.put_with(KEYS[*k], Some(&[*v]), PutOptions::default().hidden(*h))?;
            model.insert((*h, norm(KEYS[*k])), vec![*v]);
        }
        Op::Del(k, h) => {
            trie.del_with(KEYS[*k], DelOptions::default().hidden(*h))?;
            model.remove(&(*h, norm(KEYS[*k])));
        }
        Op::Batch(ops) => {
            let mut batch = Vec::new();
            for &(is_put, k, h, v) in ops {
                if is_put {
                    batch.push(BatchOp::put(KEYS[k], vec![v]).hidden(h));
                    model.insert((h, norm(KEYS[k])), vec![v]);
                } else {
                    batch.push(BatchOp::del(KEYS[k]).hidden(h));
                    model.remove(&(h, norm(KEYS[k])));
                }
            }
            trie.batch(batch)?;
        }
    }
    Ok(())
}

fn check(
    trie: &mut Hypertrie<MemoryStorage>,
    version: u64,
    model: &Model,
) -> Result<(), TestCaseError> {
    let mut view = trie.checkout(version);
    for hidden in [false, true] {
        for key in KEYS {
            let got = view
                .get_with(key, GetOptions::default().hidden(hidden))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want = model.get(&(hidden, norm(key)));
            prop_assert_eq!(
                got.as_ref().and_then(|n| n.value()),
                want.map(Vec::as_slice),
                "get {:?} hidden={} at version {}",
                key,
                hidden,
                version
            );
        }
        let mut listed: Vec<String> = view
            .list_with("", IterOptions::default().hidden(hidden))
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .iter()
            .map(|n| n.key().to_owned())
            .collect();
        listed.sort();
        let want: Vec<String> = model
            .keys()
            .filter(|(h, _)| *h == hidden)
            .map(|(_, k)| k.clone())
            .collect();
        prop_assert_eq!(
            listed,
            want,
            "list hidden={} at version {}",
            hidden,
            version
        );
    }
    let mut under_a: Vec<String> = view
        .list("a")
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .iter()
        .map(|n| n.key().to_owned())
        .collect();
    under_a.sort();
    let want: Vec<String> = model
        .keys()
        .filter(|(h, k)| !*h && (k == "a" || k.starts_with("a/")))
        .map(|(_, k)| k.clone())
        .collect();
    prop_assert_eq!(under_a, want, "list a at version {}", version);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn trie_agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 1..40)) {
        let feed = Feed::open(MemoryStorage::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut trie = Hypertrie::open(feed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut model = Model::new();
        let mut snapshots = vec![(trie.version(), model.clone())];
        for op in &ops {
            apply(&mut trie, &mut model, op).map_err(|e| TestCaseError::fail(e.to_string()))?;
            snapshots.push((trie.version(), model.clone()));
        }
        let now = trie.version();
        check(&mut trie, now, &model)?;
        // Every older version still reads as it was.
        for (version, then) in &snapshots {
            check(&mut trie, *version, then)?;
        }
        // A diff against the middle version names exactly the keys whose node changed, with
        // each side's current value.
        let (mid, then) = &snapshots[snapshots.len() / 2];
        let entries: Vec<_> = trie
            .diff(*mid, "", DiffOptions::default())
            .collect::<hypertrie::Result<_>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for e in &entries {
            prop_assert_eq!(
                e.left.as_ref().and_then(|n| n.value()),
                model.get(&(false, e.key.clone())).map(Vec::as_slice)
            );
            prop_assert_eq!(
                e.right.as_ref().and_then(|n| n.value()),
                then.get(&(false, e.key.clone())).map(Vec::as_slice)
            );
            seen.insert(e.key.clone());
        }
        for ((hidden, key), value) in &model {
            if !hidden && then.get(&(false, key.clone())) != Some(value) {
                prop_assert!(seen.contains(key), "diff misses {}", key);
            }
        }
        for (hidden, key) in then.keys() {
            if !hidden && !model.contains_key(&(false, key.clone())) {
                prop_assert!(seen.contains(key), "diff misses deleted {}", key);
            }
        }
    }
}
