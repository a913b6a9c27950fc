//! Iterator / list (docs/formats.md §3.11): a depth-first walk of the hash trie under a prefix.
//!
//! The order is JS's: a key before the keys under it, then children by 2-bit path value
//! 0, 1, 2, 3 (mirrored for `reverse`). It is hash order, not lexicographic.

use std::cmp::Ordering;

use crate::error::Result;
use crate::key::{END, normalize};
use crate::node::Node;
use crate::ops::Head;
use crate::ops::get::{Get, GetOptions};
use crate::source::{Operation, Slot, Step, check_pointer, fetch};

/// How an iterator walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IterOptions {
    /// Descend into sub-directories (default); otherwise yield one node per next segment.
    pub recursive: bool,
    /// Mirror the order.
    pub reverse: bool,
    /// Leave out the prefix key itself.
    pub gt: bool,
    /// Walk the hidden subtree.
    pub hidden: bool,
}

impl Default for IterOptions {
    fn default() -> Self {
        IterOptions {
            recursive: true,
            reverse: false,
            gt: false,
            hidden: false,
        }
    }
}

impl IterOptions {
    /// Sets [`IterOptions::recursive`].
    pub fn recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }

    /// Sets [`IterOptions::reverse`].
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    /// Sets [`IterOptions::gt`].
    pub fn gt(mut self, gt: bool) -> Self {
        self.gt = gt;
        self
    }

    /// Sets [`IterOptions::hidden`].
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }
}

/// JS pushes path values in this order, so pops come out 4 (the key itself), 0, 1, 2, 3.
const ORDER: [u8; 5] = [3, 2, 1, 0, END];
const REVERSE_ORDER: [u8; 5] = [END, 0, 1, 2, 3];

/// The iterator step machine; yields `Some(node)` per entry, then `None`.
#[derive(Debug)]
pub struct Iterate {
    open: Option<Get>,
    options: IterOptions,
    start: usize,
    end: usize,
    stack: Vec<Entry>,
    /// Stack indices still waiting for their node.
    loads: Vec<usize>,
    /// Stack ranges pushed for one path value that must be ordered by key once loaded.
    needs_sort: Vec<(usize, usize)>,
    slot: Slot,
}

#[derive(Clone, Debug)]
struct Entry {
    i: usize,
    seq: u64,
    node: Option<Node>,
}

impl Iterate {
    /// Iterates the keys under `prefix` of the trie at `version`.
    pub fn new(prefix: &str, options: IterOptions, version: u64) -> Self {
        Self::with_head(prefix, options, Head::at_version(version))
    }

    pub(crate) fn with_head(prefix: &str, options: IterOptions, head: Head) -> Self {
        // JS normalises the prefix here and again in the get.
        let get = Get::with_head(
            normalize(prefix),
            GetOptions::default().prefix(true).hidden(options.hidden),
            head,
        );
        Iterate {
            open: Some(get),
            options,
            start: 0,
            end: 0,
            stack: Vec::new(),
            loads: Vec::new(),
            needs_sort: Vec::new(),
            slot: Slot::default(),
        }
    }

    fn expand(&mut self, mut top: Entry, node: &Node) -> Result<()> {
        let i = top.i;
        top.i += 1;
        let bucket = node.bucket(i);
        let order = if self.options.reverse {
            REVERSE_ORDER
        } else {
            ORDER
        };
        let mut top = Some(top);
        for val in order {
            if val == END && self.options.gt && i == self.start {
                continue;
            }
            let len = self.stack.len();
            if node.path(i) == val
                && let Some(t) = top.take()
            {
                self.stack.push(t);
            }
            for seq in bucket.iter().skip(val as usize).step_by(5) {
                if seq != 0 {
                    check_pointer(node, seq)?;
                    self.loads.push(self.stack.len());
                    self.stack.push(Entry {
                        i: i + 1,
                        seq,
                        node: None,
                    });
                }
            }
            if self.stack.len() - len > 1 {
                self.needs_sort.push((len, self.stack.len()));
            }
        }
        Ok(())
    }

    /// JS's insertion sort: keys descending up the stack, so pops come out ascending.
    fn sort(&mut self) {
        while let Some((from, to)) = self.needs_sort.pop() {
            for k in from + 1..to.min(self.stack.len()) {
                let mut j = k;
                while j > from && js_cmp(key_of(&self.stack[j]), key_of(&self.stack[j - 1])).is_gt()
                {
                    self.stack.swap(j, j - 1);
                    j -= 1;
                }
            }
        }
    }
}

fn key_of(e: &Entry) -> &str {
    e.node.as_ref().map_or("", Node::key)
}

/// JS string comparison: by UTF-16 code units.
pub(crate) fn js_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

impl Operation for Iterate {
    type Output = Option<Node>;

    fn poll(&mut self) -> Result<Step<Option<Node>>> {
        if let Some(get) = &mut self.open {
            let prefix = match get.poll()? {
                Step::Need(seq) => return Ok(Step::Need(seq)),
                Step::Ready(prefix) => prefix,
            };
            self.start = get.length();
            self.end = if self.options.recursive {
                usize::MAX
            } else {
                self.start + 32
            };
            self.open = None;
            if let Some(node) = prefix {
                self.stack.push(Entry {
                    i: self.start,
                    seq: node.seq(),
                    node: Some(node),
                });
            }
        }
        loop {
            if let Some(&k) = self.loads.first() {
                let seq = self.stack[k].seq;
                self.stack[k].node = fetch!(self.slot, seq);
                self.loads.remove(0);
                if self.loads.is_empty() {
                    self.sort();
                }
                continue;
            }
            let Some(top) = self.stack.pop() else {
                return Ok(Step::Ready(None));
            };
            // A pointer at a key-'' node: JS would throw here; skip it.
            let Some(node) = top.node.clone() else {
                continue;
            };
            if top.i >= node.len().min(self.end) {
                return Ok(Step::Ready(Some(node)));
            }
            self.expand(top, &node)?;
        }
    }

    fn supply(&mut self, node: Option<Node>) {
        match &mut self.open {
            Some(get) => get.supply(node),
            None => self.slot.supply(node),
        }
    }
}
