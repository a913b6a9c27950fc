//! Delete (docs/formats.md §3.8). Hypertrie writes no tombstone: it re-writes the deepest surviving
//! neighbour of the deleted node (same key, value and flags) with a trie that leaves the deleted
//! seq out, or a key-`''` reset node when nothing survives.

use crate::error::Result;
use crate::key::KeyPath;
use crate::node::Node;
use crate::ops::Head;
use crate::ops::put::PendingNode;
use crate::source::{Next, Operation, Slot, Step, check_pointer, fetch};

/// What a delete walk found.
#[derive(Debug)]
pub(crate) enum DelPlan {
    /// The trie is empty: nothing to do and nothing to ask a condition.
    Empty,
    /// The key is not there; the node where the walk stopped, if any.
    NotFound(Option<Node>),
    /// `target` is the node to delete; `closest` the neighbour to re-write in its place.
    Found { target: Node, closest: Option<Node> },
}

impl DelPlan {
    /// The node a found delete appends (JS `_splice`), to be put with `del = target.seq`.
    pub(crate) fn splice(target: &Node, closest: Option<&Node>) -> PendingNode {
        match closest {
            Some(c) => PendingNode::new(
                c.key(),
                c.value().map(<[u8]>::to_vec),
                c.hidden(),
                c.flags(),
            ),
            None => PendingNode::new("", None, target.hidden(), 0),
        }
    }
}

/// The delete step machine.
#[derive(Debug)]
pub(crate) struct Del {
    target: KeyPath,
    closest: u64,
    state: State,
    slot: Slot,
}

#[derive(Debug)]
enum State {
    Start(Head),
    Walk { i: usize, head: Node },
    Follow { i: usize, seq: u64 },
    Closest { target: Node },
    Done,
}

impl Del {
    pub(crate) fn new(key: &str, hidden: bool, head: Head) -> Self {
        Del {
            target: KeyPath::new(key, hidden),
            closest: 0,
            state: State::Start(head),
            slot: Slot::default(),
        }
    }

    fn walk(&mut self, mut i: usize, head: Node) -> Result<Next<State, DelPlan>> {
        let t = &self.target;
        while i < t.len() {
            let val = t.path(i) as usize;
            let bucket = head.bucket(i);
            if head.path(i) as usize == val {
                let first = bucket
                    .iter()
                    .enumerate()
                    .find(|&(k, s)| k != val && s != 0)
                    .map(|(_, s)| s);
                if let Some(s) = first {
                    check_pointer(&head, s)?;
                    self.closest = s;
                }
                i += 1;
                continue;
            }
            let seq = bucket.get(val);
            if seq == 0 {
                return Ok(Next::Ready(DelPlan::NotFound(Some(head))));
            }
            check_pointer(&head, seq)?;
            self.closest = head.seq();
            return Ok(Next::State(State::Follow { i, seq }));
        }
        // No collision handling here, as in JS: the key must match exactly.
        if head.key() != t.key() {
            return Ok(Next::Ready(DelPlan::NotFound(Some(head))));
        }
        Ok(Next::State(State::Closest { target: head }))
    }

    fn pending(&self) -> Option<u64> {
        match &self.state {
            State::Start(Head::Seq(seq)) if *seq != 0 => Some(*seq),
            State::Follow { seq, .. } => Some(*seq),
            State::Closest { .. } if self.closest != 0 => Some(self.closest),
            _ => None,
        }
    }

    fn advance(
        &mut self,
        state: State,
        loaded: Option<Option<Node>>,
    ) -> Result<Next<State, DelPlan>> {
        Ok(Next::State(match state {
            State::Start(Head::Node(Some(h))) => State::Walk { i: 0, head: h },
            State::Start(Head::Node(None) | Head::Seq(0)) => {
                return Ok(Next::Ready(DelPlan::Empty));
            }
            State::Start(Head::Seq(_)) => match loaded.flatten() {
                Some(h) => State::Walk { i: 0, head: h },
                None => return Ok(Next::Ready(DelPlan::Empty)),
            },
            State::Walk { i, head } => return self.walk(i, head),
            State::Follow { i, .. } => match loaded.flatten() {
                Some(n) => State::Walk { i: i + 1, head: n },
                None => return Ok(Next::Ready(DelPlan::NotFound(None))),
            },
            State::Closest { target } => {
                return Ok(Next::Ready(DelPlan::Found {
                    target,
                    closest: loaded.flatten(),
                }));
            }
            State::Done => State::Done,
        }))
    }
}

impl Operation for Del {
    type Output = DelPlan;

    fn poll(&mut self) -> Result<Step<DelPlan>> {
        loop {
            if matches!(self.state, State::Done) {
                return Err(crate::Error::Finished);
            }
            let loaded = match self.pending() {
                Some(seq) => Some(fetch!(self.slot, seq)),
                None => None,
            };
            let state = std::mem::replace(&mut self.state, State::Done);
            match self.advance(state, loaded)? {
                Next::Ready(plan) => return Ok(Step::Ready(plan)),
                Next::State(next) => self.state = next,
            }
        }
    }

    fn supply(&mut self, node: Option<Node>) {
        self.slot.supply(node);
    }
}
