//! Batch (docs/formats.md §3.9): puts and deletes applied in order against the nodes made so far,
//! then appended with one hypercore append (one signature).

use crate::error::{Error, Result};
use crate::node::Node;
use crate::ops::Head;
use crate::ops::del::{Del, DelPlan};
use crate::ops::put::{PendingNode, Put};
use crate::source::{Operation, Slot, Step, fetch};

/// One operation of a [`batch`](crate::Hypertrie::batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOp {
    key: String,
    kind: Kind,
    hidden: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Put { value: Option<Vec<u8>>, flags: u64 },
    Del,
}

impl BatchOp {
    /// Puts `value` at `key`.
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::put_value(key, Some(value.into()))
    }

    /// Puts a node with an optional value (JS `value: null`).
    pub fn put_value(key: impl Into<String>, value: Option<Vec<u8>>) -> Self {
        BatchOp {
            key: key.into(),
            kind: Kind::Put { value, flags: 0 },
            hidden: false,
        }
    }

    /// Deletes `key`.
    pub fn del(key: impl Into<String>) -> Self {
        BatchOp {
            key: key.into(),
            kind: Kind::Del,
            hidden: false,
        }
    }

    /// Works in the hidden subtree.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// User flags for a put (ignored by a delete, as in JS).
    pub fn flags(mut self, user_flags: u64) -> Self {
        if let Kind::Put { flags, .. } = &mut self.kind {
            *flags = user_flags;
        }
        self
    }
}

/// The batch step machine; yields every node to append with its block bytes.
#[derive(Debug)]
pub(crate) struct Batch {
    ops: std::vec::IntoIter<BatchOp>,
    /// Seq the first batch node gets (the feed length).
    offset: u64,
    head: Option<Node>,
    nodes: Vec<(Node, Vec<u8>)>,
    state: State,
    slot: Slot,
}

#[derive(Debug)]
enum State {
    Start(u64),
    NextOp,
    Put(Put),
    Del(Del),
    Splice(Put),
    Done,
}

impl Batch {
    pub(crate) fn new(ops: Vec<BatchOp>, version: u64) -> Self {
        Batch {
            ops: ops.into_iter(),
            offset: version,
            head: None,
            nodes: Vec::new(),
            state: State::Start(super::head_seq(version)),
            slot: Slot::default(),
        }
    }

    fn push_node(&mut self, node: &PendingNode) -> Result<()> {
        let seq = self.offset + self.nodes.len() as u64;
        let (node, bytes) = node.finish(seq)?;
        self.head = Some(node.clone());
        self.nodes.push((node, bytes));
        Ok(())
    }

    /// Nodes made by this batch are read from the batch, as JS `batch.get` does (even a
    /// key-`''` node: only feed reads turn that into "no node").
    fn local(&self, seq: u64) -> Result<Option<Node>> {
        if seq < self.offset {
            return Ok(None);
        }
        let k = usize::try_from(seq - self.offset).unwrap_or(usize::MAX);
        match self.nodes.get(k) {
            Some((n, _)) => Ok(Some(n.clone())),
            None => Err(Error::MissingNode {
                seq,
                length: self.offset + self.nodes.len() as u64,
            }),
        }
    }
}

impl Operation for Batch {
    type Output = Vec<(Node, Vec<u8>)>;

    fn poll(&mut self) -> Result<Step<Self::Output>> {
        loop {
            let step = match &mut self.state {
                State::Start(0) => {
                    self.state = State::NextOp;
                    continue;
                }
                State::Start(seq) => {
                    let seq = *seq;
                    self.head = fetch!(self.slot, seq);
                    self.state = State::NextOp;
                    continue;
                }
                State::NextOp => {
                    let head = Head::Node(self.head.clone());
                    self.state = match self.ops.next() {
                        None => {
                            self.state = State::Done;
                            return Ok(Step::Ready(std::mem::take(&mut self.nodes)));
                        }
                        Some(op) => match op.kind {
                            Kind::Put { value, flags } => State::Put(Put::new(
                                PendingNode::new(&op.key, value, op.hidden, flags),
                                head,
                                0,
                            )),
                            Kind::Del => State::Del(Del::new(&op.key, op.hidden, head)),
                        },
                    };
                    continue;
                }
                State::Put(op) | State::Splice(op) => op.poll()?.map(Done::Put),
                State::Del(op) => op.poll()?.map(Done::Del),
                State::Done => return Err(Error::Finished),
            };
            match step {
                Step::Need(seq) if seq >= self.offset => {
                    let node = self.local(seq)?;
                    match &mut self.state {
                        State::Put(op) | State::Splice(op) => op.supply(node),
                        State::Del(op) => op.supply(node),
                        _ => {}
                    }
                }
                Step::Need(seq) => return Ok(Step::Need(seq)),
                Step::Ready(Done::Put(plan)) => {
                    self.push_node(&plan.node)?;
                    self.state = State::NextOp;
                }
                Step::Ready(Done::Del(DelPlan::Found { target, closest })) => {
                    let node = DelPlan::splice(&target, closest.as_ref());
                    let head = Head::Node(self.head.clone());
                    self.state = State::Splice(Put::new(node, head, target.seq()));
                }
                Step::Ready(Done::Del(_)) => self.state = State::NextOp,
            }
        }
    }

    fn supply(&mut self, node: Option<Node>) {
        match &mut self.state {
            State::Start(_) => self.slot.supply(node),
            State::Put(op) | State::Splice(op) => op.supply(node),
            State::Del(op) => op.supply(node),
            State::NextOp | State::Done => {}
        }
    }
}

enum Done {
    Put(crate::ops::put::PutPlan),
    Del(DelPlan),
}
