//! The iterative query walk (dht-rpc `QueryStream`): seeding, moving
//! closer, the update phase and finalizing.

use std::net::SocketAddrV4;
use std::time::Instant;

use super::{Event, Node, Origin, Outgoing, Reply};
use crate::addr::{self, NodeId};
use crate::error::RpcError;
use crate::message::{Message, MessageType};
use crate::query::{
    BACKGROUND_CONCURRENCY, CONCURRENCY, Query, QueryId, QueryMode, QueryStats, QueryTable, Status,
};
use crate::routing::K;

impl Node {
    pub(super) fn start_query(
        &mut self,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
        mode: QueryMode,
        is_bootstrap: bool,
        now: Instant,
    ) -> QueryId {
        self.next_query += 1;
        let id = QueryId(self.next_query);
        let concurrency = if is_bootstrap && !self.queries.is_empty() {
            BACKGROUND_CONCURRENCY
        } else {
            CONCURRENCY
        };
        let q = Query {
            command: command.to_owned(),
            target,
            value,
            mode,
            table: QueryTable::new(self.id, target),
            status: Status::Bootstrapping,
            inflight: 0,
            responses: 0,
            errors: 0,
            updates: 0,
            concurrency,
            is_bootstrap,
        };
        self.queries.insert(id, q);
        self.step_query(id, now);
        id
    }

    fn step_query(&mut self, id: QueryId, now: Instant) {
        let Some(mut q) = self.queries.remove(&id) else {
            return;
        };
        match q.status {
            Status::Bootstrapping => {
                for n in self.table.closest(&q.target, K) {
                    q.table.add_unverified(n, None);
                }
                if self.table.len() < self.bootstrap_nodes.len() {
                    for b in self.bootstrap_nodes.clone() {
                        self.send_query_request(id, &mut q, b, None, None, false, now);
                    }
                }
                q.status = Status::MovingCloser;
                self.move_closer(id, &mut q, now);
            }
            Status::MovingCloser => self.move_closer(id, &mut q, now),
            Status::Updating => self.send_updates(id, &mut q, now),
            Status::Finalized => {}
        }
        if q.status == Status::Finalized {
            self.finalize(id, q);
        } else {
            self.queries.insert(id, q);
        }
    }

    fn free_slots(&self, q: &Query) -> usize {
        let free = q.concurrency.saturating_sub(self.inflight.len());
        if free == 0 && q.inflight == 0 {
            1
        } else {
            free
        }
    }

    fn move_closer(&mut self, id: QueryId, q: &mut Query, now: Instant) {
        let free = self.free_slots(q);
        let mut sent = 0;
        for i in 0..q.table.unverified.len() {
            if sent == free {
                break;
            }
            let n = &mut q.table.unverified[i];
            if n.queried {
                continue;
            }
            n.queried = true;
            let fast = std::mem::replace(&mut n.fast_holepunch, true);
            let (addr, nid, referrer) = (n.addr, n.id, n.referrer);
            self.send_query_request(id, q, addr, Some(nid), referrer, fast, now);
            sent += 1;
        }
        if sent > 0 || q.inflight > 0 {
            return;
        }
        if q.mode.update {
            for n in &mut q.table.closest {
                n.queried = false;
            }
            q.status = Status::Updating;
            self.send_updates(id, q, now);
        } else {
            q.status = Status::Finalized;
        }
    }

    fn send_updates(&mut self, id: QueryId, q: &mut Query, now: Instant) {
        let free = self.free_slots(q);
        let mut sent = 0;
        for i in 0..q.table.closest.len() {
            if sent == free {
                break;
            }
            let n = &mut q.table.closest[i];
            if n.queried || n.token.is_none() {
                continue;
            }
            n.queried = true;
            let fast = std::mem::replace(&mut n.fast_holepunch, true);
            let (addr, nid, referrer, token) = (n.addr, n.id, n.referrer, n.token.clone());
            let mut m = self.request_message(MessageType::Update, &q.command, addr);
            m.roundtrip_token = token;
            m.target = Some(q.target.0.to_vec());
            m.value = q.value.clone();
            q.inflight += 1;
            self.request(
                Outgoing {
                    message: m,
                    peer: addr,
                    peer_id: Some(nid),
                    referrer,
                    fast_holepunch: fast,
                    origin: Origin::Query(id),
                },
                now,
            );
            sent += 1;
        }
        if sent == 0 && q.inflight == 0 {
            q.status = Status::Finalized;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_query_request(
        &mut self,
        id: QueryId,
        q: &mut Query,
        addr: SocketAddrV4,
        peer_id: Option<NodeId>,
        referrer: Option<SocketAddrV4>,
        fast_holepunch: bool,
        now: Instant,
    ) {
        let (command, value) = if q.mode.query {
            (q.command.as_str(), q.value.clone())
        } else {
            ("_find_node", None)
        };
        let mut m = self.request_message(MessageType::Query, command, addr);
        m.target = Some(q.target.0.to_vec());
        m.value = value;
        q.inflight += 1;
        self.request(
            Outgoing {
                message: m,
                peer: addr,
                peer_id,
                referrer,
                fast_holepunch,
                origin: Origin::Query(id),
            },
            now,
        );
    }

    pub(super) fn on_query_response(
        &mut self,
        id: QueryId,
        result: Result<Message, RpcError>,
        from: SocketAddrV4,
        peer_id: Option<NodeId>,
        now: Instant,
    ) {
        let Some(mut q) = self.queries.remove(&id) else {
            return;
        };
        q.inflight = q.inflight.saturating_sub(1);
        if q.is_bootstrap {
            q.concurrency = if self.queries.is_empty() {
                CONCURRENCY
            } else {
                BACKGROUND_CONCURRENCY
            };
        }
        let m = match result {
            Ok(m) => m,
            Err(_) => {
                if let Some(pid) = peer_id {
                    self.table.remove(&pid);
                }
                q.errors += 1;
                self.queries.insert(id, q);
                self.step_query(id, now);
                return;
            }
        };
        q.responses += 1;
        if let (Some(rid), Some(tok)) = (
            m.id.as_deref().and_then(NodeId::from_slice),
            m.roundtrip_token.clone(),
        ) {
            q.table.add_verified(rid, tok, from);
        }
        match q.status {
            Status::MovingCloser => {
                let closer = m
                    .closer_nodes
                    .as_deref()
                    .and_then(|b| addr::decode_nodes(b).ok())
                    .unwrap_or_default();
                for n in closer {
                    q.table.add_unverified(n, Some(from));
                }
            }
            Status::Updating => q.updates += 1,
            _ => {}
        }
        let report = m.error_text().is_none() && (q.mode.query || q.status != Status::MovingCloser);
        if report {
            let kind = if q.status == Status::Updating {
                MessageType::Update
            } else {
                MessageType::Query
            };
            let reply = Reply {
                kind,
                node: m.id.as_deref().and_then(NodeId::from_slice),
                from,
                to: m
                    .to
                    .as_deref()
                    .filter(|t| t.len() == addr::PEER_LEN)
                    .and_then(addr::decode_first_peer),
                value: m.value,
            };
            self.push_event(Event::Reply { query: id, reply }, true);
        }
        self.queries.insert(id, q);
        self.step_query(id, now);
    }

    fn finalize(&mut self, id: QueryId, q: Query) {
        let result = if q.responses == 0 {
            Err(RpcError::NoNodesResponded)
        } else if q.mode.update && q.updates == 0 {
            Err(RpcError::NoCloseNodesResponded)
        } else {
            Ok(QueryStats {
                responses: q.responses,
                errors: q.errors,
                updates: q.updates,
            })
        };
        if self.bootstrap_query == Some(id) {
            self.bootstrap_query = None;
            match &result {
                Ok(_) => self.mark_bootstrapped(),
                Err(e) => self.push_event(Event::BootstrapFailed(e.clone()), true),
            }
        }
        self.push_event(Event::QueryDone { query: id, result }, true);
    }
}
