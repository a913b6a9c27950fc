//! The sans-IO seam: operations ask for nodes by seq and are handed them.

use crate::error::{Error, Result};
use crate::node::Node;

/// What an operation wants next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Hand over node `seq` with [`Operation::supply`], then poll again.
    Need(u64),
    /// A result. Iterating operations yield `Ready(Some(_))` per item and `Ready(None)` at the
    /// end; the others finish with one `Ready`.
    Ready(T),
}

impl<T> Step<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Need(seq) => Step::Need(seq),
            Step::Ready(t) => Step::Ready(f(t)),
        }
    }
}

/// A trie operation as a step machine: it never does I/O itself, so it runs the same over a
/// local feed or over a sparse feed whose blocks arrive from peers.
pub trait Operation {
    /// What the operation produces.
    type Output;

    /// Advances until the operation needs a node or has a result.
    fn poll(&mut self) -> Result<Step<Self::Output>>;

    /// Hands over the node the last [`Step::Need`] asked for: `None` when the block holds the
    /// key-`''` node, which every walk reads as "no node".
    fn supply(&mut self, node: Option<Node>);
}

/// Where nodes come from: a local feed, a cache, a replica waiting on peers.
pub trait NodeSource {
    /// Node `seq`, or `None` for the key-`''` node (a trie reset).
    fn node(&mut self, seq: u64) -> Result<Option<Node>>;
}

/// Runs `op` to its next result, loading what it asks for from `source`.
pub fn run<O: Operation>(op: &mut O, source: &mut impl NodeSource) -> Result<O::Output> {
    loop {
        match op.poll()? {
            Step::Ready(out) => return Ok(out),
            Step::Need(seq) => {
                let node = source.node(seq)?;
                op.supply(node);
            }
        }
    }
}

/// What one state transition of an operation produced.
pub(crate) enum Next<S, T> {
    /// Carry on in this state.
    State(S),
    /// Stop with this result.
    Ready(T),
}

/// One outstanding load inside an operation.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    asked: Option<u64>,
    got: Option<Option<Node>>,
}

impl Slot {
    /// The node for `seq` if it was supplied, else records the request (the caller then
    /// returns `Step::Need(seq)`).
    pub(crate) fn fetch(&mut self, seq: u64) -> Option<Option<Node>> {
        if self.asked == Some(seq)
            && let Some(got) = self.got.take()
        {
            self.asked = None;
            return Some(got);
        }
        self.asked = Some(seq);
        self.got = None;
        None
    }

    pub(crate) fn supply(&mut self, node: Option<Node>) {
        if self.asked.is_some() {
            self.got = Some(node);
        }
    }
}

/// Checks that `from` points only at older blocks, which every writer guarantees; it is what
/// keeps walks over corrupt data finite.
pub(crate) fn check_pointer(from: &Node, to: u64) -> Result<()> {
    if to >= from.seq() {
        return Err(Error::BadPointer {
            from: from.seq(),
            to,
        });
    }
    Ok(())
}

/// Loads `seq` through `slot`, or returns `Step::Need` from the calling `poll`.
macro_rules! fetch {
    ($slot:expr, $seq:expr) => {
        match $slot.fetch($seq) {
            Some(node) => node,
            None => return Ok($crate::source::Step::Need($seq)),
        }
    };
}
pub(crate) use fetch;
