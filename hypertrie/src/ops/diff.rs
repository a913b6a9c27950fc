//! Diff (docs/formats.md §3.11): walk two versions of the trie in lock-step, skipping every subtree
//! both reach through the same seq. Seqs are compared, not values, so a node re-written by a delete
//! shows up as a change with an equal value, as in JS.

use crate::error::Result;
use crate::node::Node;
use crate::ops::Head;
use crate::ops::get::{Get, GetOptions};
use crate::source::{Operation, Slot, Step, check_pointer, fetch};
use crate::trie_field::Bucket;

/// How a diff walks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Compare the hidden subtrees.
    pub hidden: bool,
    /// Leave out entries with no left side (keys only in the other version).
    pub skip_left_null: bool,
    /// Leave out entries with no right side (keys only in this version).
    pub skip_right_null: bool,
}

impl DiffOptions {
    /// Sets [`DiffOptions::hidden`].
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets [`DiffOptions::skip_left_null`].
    pub fn skip_left_null(mut self, skip: bool) -> Self {
        self.skip_left_null = skip;
        self
    }

    /// Sets [`DiffOptions::skip_right_null`].
    pub fn skip_right_null(mut self, skip: bool) -> Self {
        self.skip_right_null = skip;
        self
    }
}

/// One difference: the key's node in this version (`left`) and in the other (`right`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffEntry {
    /// The key.
    pub key: String,
    /// The node in this version, if the key is there.
    pub left: Option<Node>,
    /// The node in the other version, if the key is there.
    pub right: Option<Node>,
}

/// The diff step machine; yields `Some(entry)` per difference, then `None`.
#[derive(Debug)]
pub struct Diff {
    open: Option<(Get, Get, Option<Option<Node>>)>,
    options: DiffOptions,
    stack: Vec<Entry>,
    /// `(stack index, left side, seq)` still to load.
    loads: Vec<(usize, bool, u64)>,
    slot: Slot,
}

#[derive(Debug, Default)]
struct Entry {
    i: usize,
    left: Option<Node>,
    right: Option<Node>,
    skip: bool,
}

fn seq(n: &Option<Node>) -> u64 {
    n.as_ref().map_or(0, Node::seq)
}

fn done(n: &Option<Node>, i: usize) -> bool {
    n.as_ref().is_some_and(|n| i >= n.len())
}

/// Whether `seq` is absent from slots `j`, `j+5`, … of `bucket`.
fn not_in(j: usize, seq: u64, bucket: Bucket<'_>) -> bool {
    !bucket.iter().skip(j).step_by(5).any(|s| s == seq)
}

impl Diff {
    /// Compares the trie at `version` (left) with the trie at `other` (right) under `prefix`.
    pub fn new(prefix: &str, options: DiffOptions, version: u64, other: u64) -> Self {
        Self::with_heads(
            prefix,
            options,
            Head::at_version(version),
            Head::at_version(other),
        )
    }

    pub(crate) fn with_heads(prefix: &str, options: DiffOptions, left: Head, right: Head) -> Self {
        let opts = GetOptions::default().prefix(true).hidden(options.hidden);
        Diff {
            open: Some((
                Get::with_head(prefix, opts, left),
                Get::with_head(prefix, opts, right),
                None,
            )),
            options,
            stack: Vec::new(),
            loads: Vec::new(),
            slot: Slot::default(),
        }
    }

    /// JS `_pushStack`: the entry at `at`, created if the stack ends there.
    fn slot_at(&mut self, at: usize, i: usize) -> &mut Entry {
        if self.stack.len() <= at {
            self.stack.push(Entry {
                i,
                ..Entry::default()
            });
        }
        let last = self.stack.len() - 1;
        &mut self.stack[at.min(last)]
    }

    /// Pushes the children of `(left, right)` at position `i`.
    fn expand(&mut self, i: usize, left: &Option<Node>, right: &Option<Node>) -> Result<()> {
        let (dl, dr) = (done(left, i), done(right, i));
        let lv = left.as_ref().map_or(5, |n| n.path(i) as usize);
        let rv = right.as_ref().map_or(6, |n| n.path(i) as usize);
        let lb = left.as_ref().map_or(Bucket::default(), |n| n.bucket(i));
        let rb = right.as_ref().map_or(Bucket::default(), |n| n.bucket(i));
        let o = self.options;
        for j in 0..5 {
            let ls = if lv == j { seq(left) } else { 0 };
            let rs = if rv == j { seq(right) } else { 0 };
            let base = self.stack.len();
            let (mut lp, mut rp) = (base, base);
            if ls != rs {
                if !dl && ls != 0 && not_in(j, ls, rb) {
                    self.slot_at(lp, i + 1).left = left.clone();
                    lp += 1;
                }
                if !dr && rs != 0 && not_in(j, rs, lb) {
                    self.slot_at(rp, i + 1).right = right.clone();
                    rp += 1;
                }
            }
            if let (false, Some(l)) = (dl, left) {
                let push = !o.skip_right_null || rb.get(j) != 0;
                for s in lb.iter().skip(j).step_by(5).take_while(|s| *s != 0) {
                    if s != rs && not_in(j, s, rb) {
                        check_pointer(l, s)?;
                        let top = self.slot_at(lp, i + 1);
                        if push || top.right.is_some() {
                            self.loads.push((lp, true, s));
                        } else {
                            top.skip = true;
                        }
                        lp += 1;
                    }
                }
            }
            if let (false, Some(r)) = (dr, right) {
                let push = !o.skip_left_null || lb.get(j) != 0;
                for s in rb.iter().skip(j).step_by(5).take_while(|s| *s != 0) {
                    if s != ls && not_in(j, s, lb) {
                        check_pointer(r, s)?;
                        let top = self.slot_at(rp, i + 1);
                        if push || top.left.is_some() {
                            self.loads.push((rp, false, s));
                        } else {
                            top.skip = true;
                        }
                        rp += 1;
                    }
                }
            }
            // JS then re-pairs colliding entries at segment ends, but its check looks at
            // position i+1, never a segment end, so it changes nothing; it is left out.
        }
        Ok(())
    }
}

fn entry(left: Option<Node>, right: Option<Node>) -> Option<DiffEntry> {
    let key = left.as_ref().or(right.as_ref())?.key().to_owned();
    Some(DiffEntry { key, left, right })
}

impl Operation for Diff {
    type Output = Option<DiffEntry>;

    fn poll(&mut self) -> Result<Step<Option<DiffEntry>>> {
        if let Some((l, r, left)) = &mut self.open {
            if left.is_none() {
                match l.poll()? {
                    Step::Need(seq) => return Ok(Step::Need(seq)),
                    Step::Ready(node) => *left = Some(node),
                }
            }
            let right = match r.poll()? {
                Step::Need(seq) => return Ok(Step::Need(seq)),
                Step::Ready(node) => node,
            };
            let i = r.length();
            let left = left.take().flatten();
            self.open = None;
            self.stack.push(Entry {
                i,
                left,
                right,
                skip: false,
            });
        }
        loop {
            if let Some(&(k, is_left, s)) = self.loads.first() {
                let node = fetch!(self.slot, s);
                self.loads.remove(0);
                if let (Some(e), Some(n)) = (self.stack.get_mut(k), node) {
                    if is_left {
                        e.left = Some(n);
                    } else {
                        e.right = Some(n);
                    }
                }
                continue;
            }
            let Some(Entry {
                i,
                left,
                right,
                skip,
            }) = self.stack.pop()
            else {
                return Ok(Step::Ready(None));
            };
            if skip || seq(&left) == seq(&right) {
                continue;
            }
            let (dl, dr) = (done(&left, i), done(&right, i));
            if dl && dr {
                return Ok(Step::Ready(entry(left, right)));
            }
            if right.is_none() && left.is_some() && self.options.skip_right_null {
                continue;
            }
            if left.is_none() && right.is_some() && self.options.skip_left_null {
                continue;
            }
            self.expand(i, &left, &right)?;
            if dl {
                return Ok(Step::Ready(entry(left, None)));
            }
            if dr {
                return Ok(Step::Ready(entry(None, right)));
            }
        }
    }

    fn supply(&mut self, node: Option<Node>) {
        match &mut self.open {
            Some((l, r, left)) => {
                if left.is_none() {
                    l.supply(node);
                } else {
                    r.supply(node);
                }
            }
            None => self.slot.supply(node),
        }
    }
}
