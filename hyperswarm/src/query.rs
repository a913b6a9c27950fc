//! State of one iterative query (dht-rpc `QueryStream` + `QueryTable`).
//!
//! The walk itself (sending, concurrency against the node's in-flight
//! requests) lives in [`crate::node`]; this module holds the sorted candidate
//! lists and the bookkeeping a query needs between responses.

use std::net::SocketAddrV4;

use crate::addr::{NodeAddr, NodeId};
use crate::routing::K;

/// Identifies a query started on a [`crate::Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// Default number of concurrent requests of a query (dht-rpc `concurrency`).
pub const CONCURRENCY: usize = 16;
/// Concurrency of a background bootstrap (`max(2, 16 / 8)`).
pub const BACKGROUND_CONCURRENCY: usize = 2;

/// Which phases a query runs and what its moving-closer messages are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryMode {
    /// Moving-closer messages are the command itself (else `_find_node`),
    /// and their replies are reported.
    pub query: bool,
    /// After the walk, send the command as UPDATE to the closest nodes.
    pub update: bool,
}

/// Where a query is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started: seeds from the routing table and bootstrap list next.
    Bootstrapping,
    /// Asking ever closer candidates.
    MovingCloser,
    /// Sending UPDATEs to the verified closest nodes.
    Updating,
    /// Done.
    Finalized,
}

/// A node a query knows about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryNode {
    /// Its id.
    pub id: NodeId,
    /// Its address.
    pub addr: SocketAddrV4,
    /// The node whose `closerNodes` named it (used to holepunch).
    pub referrer: Option<SocketAddrV4>,
    /// Its round-trip token (verified nodes only).
    pub token: Option<Vec<u8>>,
    /// Already sent to in the current phase.
    pub queried: bool,
    /// Whether the 500 ms fast holepunch was already fired for it.
    pub fast_holepunch: bool,
    distance: [u8; 32],
}

/// The two sorted lists of a query: verified closest (answered with id and
/// token) and unverified candidates, each at most `K` long.
#[derive(Clone, Debug)]
pub struct QueryTable {
    own: NodeId,
    target: NodeId,
    /// Verified nodes, closest first.
    pub closest: Vec<QueryNode>,
    /// Candidates, closest first.
    pub unverified: Vec<QueryNode>,
}

impl QueryTable {
    /// An empty table for a walk towards `target`.
    pub fn new(own: NodeId, target: NodeId) -> Self {
        QueryTable {
            own,
            target,
            closest: Vec::new(),
            unverified: Vec::new(),
        }
    }

    /// Adds a candidate learned from `referrer` (our own id is skipped).
    pub fn add_unverified(&mut self, node: NodeAddr, referrer: Option<SocketAddrV4>) {
        if node.id == self.own {
            return;
        }
        let n = QueryNode {
            id: node.id,
            addr: node.addr,
            referrer,
            token: None,
            queried: false,
            fast_holepunch: false,
            distance: self.target.distance(&node.id),
        };
        insert_sorted(n, &mut self.unverified);
    }

    /// Records a response from a node with `id` that gave `token`; a node we
    /// knew as a candidate keeps the address it was advertised with.
    pub fn add_verified(&mut self, id: NodeId, token: Vec<u8>, from: SocketAddrV4) {
        if id == self.own {
            return;
        }
        let mut n = match self.unverified.iter().find(|n| n.id == id) {
            Some(prev) => prev.clone(),
            None => QueryNode {
                id,
                addr: from,
                referrer: None,
                token: None,
                queried: false,
                fast_holepunch: false,
                distance: self.target.distance(&id),
            },
        };
        n.token = Some(token);
        insert_sorted(n, &mut self.closest);
    }
}

fn insert_sorted(node: QueryNode, list: &mut Vec<QueryNode>) {
    if list.len() >= K
        && list
            .last()
            .is_some_and(|last| node.distance >= last.distance)
    {
        return;
    }
    if list.iter().any(|n| n.id == node.id) {
        return;
    }
    let pos = list.partition_point(|n| n.distance <= node.distance);
    list.insert(pos, node);
    list.truncate(K);
}

/// One running query.
#[derive(Clone, Debug)]
pub struct Query {
    /// The command of the query / update phase.
    pub command: String,
    /// Target (32 bytes).
    pub target: NodeId,
    /// Encoded value sent with the command.
    pub value: Option<Vec<u8>>,
    /// Phases.
    pub mode: QueryMode,
    /// Candidate lists.
    pub table: QueryTable,
    /// Phase.
    pub status: Status,
    /// Requests of this query in flight.
    pub inflight: usize,
    /// Successful responses.
    pub responses: usize,
    /// Failed requests.
    pub errors: usize,
    /// Responses in the update phase.
    pub updates: usize,
    /// Max concurrent requests (shared with the node's other requests).
    pub concurrency: usize,
    /// This is the node's own bootstrap walk.
    pub is_bootstrap: bool,
}

/// Counters of a finished query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryStats {
    /// Successful responses.
    pub responses: usize,
    /// Failed requests.
    pub errors: usize,
    /// Responses to the UPDATE phase.
    pub updates: usize,
}
