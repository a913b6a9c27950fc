//! Put (docs/formats.md §3.7): walk the key's path from the head, copying every sibling pointer met
//! on the way into the new node's trie, and pointing at each node the path leaves behind.

use crate::error::{Error, Result};
use crate::key::{KeyPath, terminator};
use crate::message::encode_node;
use crate::node::{HIDDEN, Node};
use crate::ops::Head;
use crate::source::{Next, Operation, Slot, Step, check_pointer, fetch};
use crate::trie_field::TrieBuilder;

/// A node being written: its key, value, flags and the pointers the walk collected.
#[derive(Clone, Debug)]
pub(crate) struct PendingNode {
    path: KeyPath,
    value: Option<Vec<u8>>,
    raw_flags: u64,
    trie: TrieBuilder,
}

impl PendingNode {
    pub(crate) fn new(key: &str, value: Option<Vec<u8>>, hidden: bool, user_flags: u64) -> Self {
        // JS: `(flags << 8) | hidden`.
        let raw_flags = (user_flags << 8) | if hidden { HIDDEN } else { 0 };
        PendingNode {
            path: KeyPath::new(key, hidden),
            value,
            raw_flags,
            trie: TrieBuilder::default(),
        }
    }

    pub(crate) fn key(&self) -> &str {
        self.path.key()
    }

    /// The block bytes and the node as it will read back, for block `seq`.
    pub(crate) fn finish(&self, seq: u64) -> Result<(Node, Vec<u8>)> {
        let trie = self.trie.encode().ok_or_else(|| Error::TrieFieldTooLarge {
            key: self.key().to_owned(),
        })?;
        let bytes = encode_node(
            self.key(),
            self.value.as_deref(),
            &trie,
            seq,
            self.raw_flags,
        );
        Ok((self.node(&trie, seq)?, bytes))
    }

    /// The node as a condition sees it: no seq yet (JS passes seq 0).
    pub(crate) fn preview(&self) -> Result<Node> {
        // Over 64 KiB the put fails when written; the condition sees the pointers anyway.
        let trie = self.trie.encode_unbounded();
        self.node(&trie, 0)
    }

    fn node(&self, trie: &[u8], seq: u64) -> Result<Node> {
        Node::build(
            self.key(),
            Some(self.path.hash()),
            self.value.as_deref(),
            trie,
            self.raw_flags,
            seq,
        )
        .map_err(|reason| Error::CorruptNode { seq, reason })
    }
}

/// What a put walk found: the node to write, and the node the walk ended at.
#[derive(Debug)]
pub(crate) struct PutPlan {
    pub(crate) node: PendingNode,
    /// The node where the walk stopped: the current node of the same key, or the dead end.
    pub(crate) closest: Option<Node>,
}

impl PutPlan {
    /// The node this put replaces, if the walk ended on the same key (JS passes it to the
    /// condition unless `closest` was asked for).
    pub(crate) fn existing(&self) -> Option<&Node> {
        self.closest.as_ref().filter(|c| c.key() == self.node.key())
    }
}

/// The put step machine.
#[derive(Debug)]
pub(crate) struct Put {
    node: Option<PendingNode>,
    /// Seq of the node a delete drops: never pointed at.
    del: u64,
    state: State,
    slot: Slot,
    /// Pointers at segment ends that are kept only if their node's segment differs (a real
    /// hash collision); JS checks them after the walk, so do we.
    deferred: Vec<(usize, usize, u64)>,
}

#[derive(Debug)]
enum State {
    Start(Head),
    Walk { i: usize, head: Node },
    Follow { i: usize, seq: u64 },
    Collide(Collide),
    Deferred { closest: Option<Node>, next: usize },
    Done,
}

#[derive(Debug)]
struct Collide {
    i: usize,
    candidates: Vec<u64>,
    next: usize,
    chosen: Option<Node>,
}

impl Put {
    pub(crate) fn new(node: PendingNode, head: Head, del: u64) -> Self {
        Put {
            node: Some(node),
            del,
            state: State::Start(head),
            slot: Slot::default(),
            deferred: Vec::new(),
        }
    }

    fn walk(&mut self, mut i: usize, head: Node) -> Result<State> {
        let Some(node) = self.node.as_mut() else {
            return Ok(State::Done);
        };
        while i < node.path.len() {
            let c = terminator(i);
            let val = node.path.path(i) as usize;
            let bucket = head.bucket(i);
            for (j, seq) in bucket.iter().enumerate() {
                if (j == val && !c) || seq == 0 {
                    continue;
                }
                check_pointer(&head, seq)?;
                if seq == self.del {
                    continue;
                }
                if c {
                    self.deferred.push((i, j, seq));
                } else {
                    node.trie.push(i, j, seq);
                }
            }
            let hv = head.path(i);
            if hv as usize == val && (!c || !node.path.collides(head.key(), i)) {
                i += 1;
                continue;
            }
            if head.seq() != self.del {
                node.trie.push(i, hv as usize, head.seq());
            }
            if c {
                let candidates = bucket
                    .iter()
                    .skip(val)
                    .step_by(5)
                    .take_while(|s| *s != 0)
                    .collect();
                return Ok(State::Collide(Collide {
                    i,
                    candidates,
                    next: 0,
                    chosen: None,
                }));
            }
            let seq = bucket.get(val);
            if seq == 0 {
                break;
            }
            check_pointer(&head, seq)?;
            return Ok(State::Follow { i, seq });
        }
        Ok(State::Deferred {
            closest: Some(head),
            next: 0,
        })
    }

    fn pending(&self) -> Option<u64> {
        match &self.state {
            State::Start(Head::Seq(seq)) if *seq != 0 => Some(*seq),
            State::Follow { seq, .. } => Some(*seq),
            State::Collide(c) => c.candidates.get(c.next).copied(),
            State::Deferred { next, .. } => self.deferred.get(*next).map(|d| d.2),
            _ => None,
        }
    }

    fn advance(
        &mut self,
        state: State,
        loaded: Option<Option<Node>>,
    ) -> Result<Next<State, PutPlan>> {
        let finish = |closest| State::Deferred { closest, next: 0 };
        Ok(Next::State(match state {
            State::Start(Head::Node(Some(h))) => State::Walk { i: 0, head: h },
            State::Start(Head::Node(None) | Head::Seq(0)) => finish(None),
            State::Start(Head::Seq(_)) => match loaded.flatten() {
                Some(h) => State::Walk { i: 0, head: h },
                None => finish(None),
            },
            State::Walk { i, head } => self.walk(i, head)?,
            State::Follow { i, .. } => match loaded.flatten() {
                Some(n) => State::Walk { i: i + 1, head: n },
                None => finish(None),
            },
            State::Collide(mut c) => match (loaded, self.node.as_ref()) {
                (Some(n), Some(node)) => {
                    c.next += 1;
                    if let Some(n) = n
                        && !n.collides(&node.path, c.i)
                    {
                        c.chosen = Some(n);
                    }
                    State::Collide(c)
                }
                _ => match c.chosen {
                    Some(n) => State::Walk {
                        i: c.i + 1,
                        head: n,
                    },
                    None => finish(None),
                },
            },
            State::Deferred { closest, next } => {
                if let Some(n) = loaded {
                    if let (Some(node), Some(&(i, j, seq))) =
                        (self.node.as_mut(), self.deferred.get(next))
                        && let Some(n) = n
                        && n.collides(&node.path, i)
                    {
                        node.trie.push(i, j, seq);
                    }
                    State::Deferred {
                        closest,
                        next: next + 1,
                    }
                } else {
                    match self.node.take() {
                        Some(node) => return Ok(Next::Ready(PutPlan { node, closest })),
                        None => State::Done,
                    }
                }
            }
            State::Done => State::Done,
        }))
    }
}

impl Operation for Put {
    type Output = PutPlan;

    fn poll(&mut self) -> Result<Step<PutPlan>> {
        loop {
            if matches!(self.state, State::Done) {
                return Err(Error::Finished);
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
