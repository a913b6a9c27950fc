//! Get (docs/formats.md §3.10): follow the pointers of the key's path from the head.

use crate::error::Result;
use crate::key::{KeyPath, terminator};
use crate::node::Node;
use crate::ops::Head;
use crate::source::{Next, Operation, Slot, Step, check_pointer, fetch};

/// How a get matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetOptions {
    /// Look in the hidden subtree.
    pub hidden: bool,
    /// Return the newest node whose key starts with the key's segments (or equals it).
    pub prefix: bool,
    /// Return the node where the walk dead-ended instead of nothing.
    pub closest: bool,
}

impl GetOptions {
    /// Sets [`GetOptions::hidden`].
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets [`GetOptions::prefix`].
    pub fn prefix(mut self, prefix: bool) -> Self {
        self.prefix = prefix;
        self
    }

    /// Sets [`GetOptions::closest`].
    pub fn closest(mut self, closest: bool) -> Self {
        self.closest = closest;
        self
    }
}

/// The get step machine; yields the node found (or none).
#[derive(Debug)]
pub struct Get {
    target: KeyPath,
    /// Positions to match: the key's length, less the end marker for a prefix get.
    length: usize,
    closest: bool,
    state: State,
    slot: Slot,
}

#[derive(Debug)]
enum State {
    Start(Head),
    Walk { i: usize, head: Node },
    Follow { i: usize, from: Node, seq: u64 },
    Collide(Collide),
    Done,
}

#[derive(Debug)]
struct Collide {
    i: usize,
    candidates: Vec<u64>,
    next: usize,
    chosen: Option<Node>,
}

impl Get {
    /// A get of `key` on the trie whose version is `version`.
    pub fn new(key: &str, options: GetOptions, version: u64) -> Self {
        Self::with_head(key, options, Head::at_version(version))
    }

    pub(crate) fn with_head(key: &str, options: GetOptions, head: Head) -> Self {
        let target = KeyPath::new(key, options.hidden);
        let length = target.len() - usize::from(options.prefix);
        Get {
            target,
            length,
            closest: options.closest,
            state: State::Start(head),
            slot: Slot::default(),
        }
    }

    /// Positions the get matched (JS `get._length`); iterators and diffs start there.
    pub(crate) fn length(&self) -> usize {
        self.length
    }

    /// Walks from position `i` until a pointer must be followed or the walk ends.
    fn walk(&self, mut i: usize, head: Node) -> State {
        let t = &self.target;
        while i < self.length {
            let val = t.path(i);
            let c = terminator(i);
            if head.path(i) == val && (!c || !t.collides(head.key(), i)) {
                i += 1;
                continue;
            }
            let bucket = head.bucket(i);
            if c {
                let candidates = bucket
                    .iter()
                    .skip(val as usize)
                    .step_by(5)
                    .take_while(|s| *s != 0)
                    .collect();
                return State::Collide(Collide {
                    i,
                    candidates,
                    next: 0,
                    chosen: None,
                });
            }
            let seq = bucket.get(val as usize);
            if seq == 0 {
                return if self.closest {
                    State::Walk {
                        i: usize::MAX,
                        head,
                    }
                } else {
                    State::Done
                };
            }
            return State::Follow { i, from: head, seq };
        }
        State::Walk {
            i: usize::MAX,
            head,
        }
    }
}

impl Get {
    /// The seq the current state must load before it can advance.
    fn pending(&self) -> Result<Option<u64>> {
        Ok(match &self.state {
            State::Start(Head::Seq(seq)) if *seq != 0 => Some(*seq),
            State::Follow { from, seq, .. } => {
                check_pointer(from, *seq)?;
                Some(*seq)
            }
            State::Collide(c) => c.candidates.get(c.next).copied(),
            _ => None,
        })
    }

    /// Moves one state on, given the node [`Get::pending`] asked for.
    fn advance(&self, state: State, loaded: Option<Option<Node>>) -> Next<State, Option<Node>> {
        Next::State(match state {
            State::Start(Head::Node(Some(h))) => State::Walk { i: 0, head: h },
            State::Start(Head::Node(None) | Head::Seq(0)) => return Next::Ready(None),
            State::Start(Head::Seq(_)) => match loaded.flatten() {
                Some(h) => State::Walk { i: 0, head: h },
                None => return Next::Ready(None),
            },
            State::Walk {
                i: usize::MAX,
                head,
            } => return Next::Ready(Some(head)),
            State::Walk { i, head } => self.walk(i, head),
            State::Follow { i, .. } => match loaded.flatten() {
                Some(n) => State::Walk { i: i + 1, head: n },
                None => return Next::Ready(None),
            },
            State::Collide(mut c) => match loaded {
                Some(n) => {
                    c.next += 1;
                    if let Some(n) = n
                        && !n.collides(&self.target, c.i)
                    {
                        c.chosen = Some(n);
                    }
                    State::Collide(c)
                }
                None => match c.chosen {
                    Some(n) => State::Walk {
                        i: c.i + 1,
                        head: n,
                    },
                    None => return Next::Ready(None),
                },
            },
            State::Done => return Next::Ready(None),
        })
    }
}

impl Operation for Get {
    type Output = Option<Node>;

    fn poll(&mut self) -> Result<Step<Option<Node>>> {
        loop {
            let loaded = match self.pending()? {
                Some(seq) => Some(fetch!(self.slot, seq)),
                None => None,
            };
            let state = std::mem::replace(&mut self.state, State::Done);
            match self.advance(state, loaded) {
                Next::Ready(out) => return Ok(Step::Ready(out)),
                Next::State(next) => self.state = next,
            }
        }
    }

    fn supply(&mut self, node: Option<Node>) {
        self.slot.supply(node);
    }
}
