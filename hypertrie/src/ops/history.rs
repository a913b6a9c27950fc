//! History (docs/formats.md §3.11): the nodes in block order, stopping at the first key-`''` node.

use crate::error::Result;
use crate::node::Node;
use crate::ops::head_seq;
use crate::source::{Operation, Slot, Step, fetch};

/// Which blocks a history walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryOptions {
    /// First seq (default 1, the first node).
    pub gte: u64,
    /// Last seq (default: the head).
    pub lte: Option<u64>,
    /// Newest first.
    pub reverse: bool,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            gte: 1,
            lte: None,
            reverse: false,
        }
    }
}

impl HistoryOptions {
    /// Sets [`HistoryOptions::gte`].
    pub fn gte(mut self, gte: u64) -> Self {
        self.gte = gte;
        self
    }

    /// Sets [`HistoryOptions::lte`].
    pub fn lte(mut self, lte: u64) -> Self {
        self.lte = Some(lte);
        self
    }

    /// Sets [`HistoryOptions::reverse`].
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }
}

/// The history step machine; yields `Some(node)` per block, then `None`.
#[derive(Debug)]
pub struct History {
    options: HistoryOptions,
    /// Seq of the head to check first; `None` once the range is known.
    head: Option<u64>,
    /// Remaining range `[lo, hi]`, empty when `lo > hi`.
    lo: u64,
    hi: u64,
    done: bool,
    slot: Slot,
}

impl History {
    /// The history of the trie at `version`.
    pub fn new(options: HistoryOptions, version: u64) -> Self {
        History {
            options,
            head: Some(head_seq(version)),
            lo: 1,
            hi: 0,
            done: false,
            slot: Slot::default(),
        }
    }
}

impl Operation for History {
    type Output = Option<Node>;

    fn poll(&mut self) -> Result<Step<Option<Node>>> {
        if let Some(h) = self.head {
            // JS reads the head first: a trie whose head is the reset node has no history.
            let head = if h == 0 { None } else { fetch!(self.slot, h) };
            self.head = None;
            match head {
                Some(head) => {
                    self.lo = self.options.gte;
                    self.hi = self.options.lte.map_or(head.seq(), |l| l.min(head.seq()));
                }
                None => self.done = true,
            }
        }
        let seq = if self.options.reverse {
            self.hi
        } else {
            self.lo
        };
        // JS `getBySeq(0)` is "no node", which ends the history.
        if self.done || self.lo > self.hi || seq == 0 {
            self.done = true;
            return Ok(Step::Ready(None));
        }
        let node = fetch!(self.slot, seq);
        if self.options.reverse {
            self.hi -= 1;
        } else {
            self.lo += 1;
        }
        if node.is_none() {
            self.done = true;
        }
        Ok(Step::Ready(node))
    }

    fn supply(&mut self, node: Option<Node>) {
        self.slot.supply(node);
    }
}
