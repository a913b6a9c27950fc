//! The dial queue against hyperswarm 2's `lib/queue.js` + `lib/peer-info.js`
//! rules, and the dedup rule of `queue.deduplicate` as a pure function.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use hyperswarm::dedup::{ConnectionSide, Deduplicator, Transport, Verdict, resolve};
use hyperswarm::peer_queue::{Peer, PeerQueue, QueueConfig};

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().expect("addr")
}

fn public(a: &str) -> Peer {
    Peer {
        addr: addr(a),
        local: false,
        referrer: Some(addr("9.9.9.9:49737")),
        to: Some(addr("8.8.8.8:1000")),
        topic: Some([1; 32]),
    }
}

fn queue(seed: u64) -> PeerQueue {
    PeerQueue::new(QueueConfig {
        seed: Some(seed),
        ..QueueConfig::default()
    })
}

#[test]
fn initial_priorities_and_order() {
    let mut q = queue(1);
    let lan = q
        .add(Peer {
            local: true,
            referrer: None,
            ..public("10.0.0.2:5000")
        })
        .expect("add");
    let nat = q
        .add(Peer {
            to: Some(addr("5.5.5.5:7")),
            ..public("5.5.5.5:6000")
        })
        .expect("add");
    let p1 = q.add(public("1.1.1.1:1")).expect("add");
    let p2 = q.add(public("2.2.2.2:2")).expect("add");
    assert_eq!(q.status(lan).map(|s| s.priority), Some(3));
    assert_eq!(q.status(p1).map(|s| s.priority), Some(2));
    // behind our own public address: priority 1, retry budget already spent
    assert_eq!(q.status(nat).map(|s| (s.priority, s.retries)), Some((1, 3)));
    // the same host:port@topic collapses into one entry
    assert_eq!(q.add(public("1.1.1.1:1")), Some(p1));
    assert_eq!(q.len(), 4);
    assert_eq!(q.prioritised(), 3);
    assert_eq!(q.shift().map(|x| x.0), Some(lan));
    let mid: Vec<_> = [q.shift(), q.shift()]
        .into_iter()
        .map(|x| x.expect("peer").0)
        .collect();
    assert!(mid.contains(&p1) && mid.contains(&p2));
    assert_eq!(q.shift().map(|x| x.0), Some(nat));
    assert_eq!(q.shift(), None);
    // the same address under another topic is another entry
    let other = q.add(Peer {
        topic: Some([2; 32]),
        ..public("1.1.1.1:1")
    });
    assert!(other.is_some() && other != Some(p1));
}

/// Runs the queue's timers up to `at`.
fn advance(q: &mut PeerQueue, at: Instant) {
    while let Some(t) = q.poll_timeout() {
        if t > at {
            break;
        }
        q.handle_timeout(t);
    }
}

/// Time from a requeue until the peer is back in the queue.
fn backoff(q: &mut PeerQueue, now: &mut Instant, id: hyperswarm::peer_queue::PeerId) -> Duration {
    let start = *now;
    while !q.status(id).expect("known").queued {
        let t = q.poll_timeout().expect("timer");
        q.handle_timeout(t);
        *now = t;
    }
    *now - start
}

#[test]
fn failures_back_off_1_5_15_s_then_forget() {
    let mut q = queue(2);
    let mut now = Instant::now();
    let id = q.add(public("1.1.1.1:1")).expect("add");
    let mut waits = Vec::new();
    for _ in 0..3 {
        assert_eq!(q.shift().map(|x| x.0), Some(id));
        // while waiting, a rediscovery does not queue it early
        assert!(q.requeue(id, now));
        q.add(public("1.1.1.1:1"));
        assert!(!q.status(id).expect("known").queued);
        waits.push(backoff(&mut q, &mut now, id));
        // tried and never connected: priority 0
        assert_eq!(q.status(id).map(|s| s.priority), Some(0));
    }
    // each wait is one to two ticks of 0.66 x the nominal delay
    for (w, nominal) in waits.iter().zip([1000u64, 5000, 15000]) {
        let tick = nominal * 66 / 100;
        assert!(
            (tick..=2 * tick).contains(&(w.as_millis() as u64)),
            "{waits:?}"
        );
    }
    assert_eq!(q.shift().map(|x| x.0), Some(id));
    assert!(!q.requeue(id, now));
    // forgotten after ~7.5 s; a rediscovery starts afresh
    assert_eq!(q.known(), 1);
    advance(&mut q, now + Duration::from_millis(4949 - 1));
    assert_eq!(q.known(), 1);
    advance(&mut q, now + Duration::from_millis(2 * 4950));
    assert_eq!(q.known(), 0);
    let again = q.add(public("1.1.1.1:1")).expect("add");
    assert_eq!(
        q.status(again).map(|s| (s.priority, s.retries)),
        Some((2, 0))
    );
}

#[test]
fn a_closed_connection_reconnects_at_5_4_1() {
    let mut q = queue(3);
    let mut now = Instant::now();
    let id = q.add(public("1.1.1.1:1")).expect("add");
    let mut prios = Vec::new();
    for _ in 0..3 {
        q.shift();
        // proven once: the retries after it run at 5, 4, 1
        if prios.is_empty() {
            q.connected(id, true);
        }
        q.requeue(id, now);
        backoff(&mut q, &mut now, id);
        prios.push(q.status(id).expect("known").priority);
    }
    assert_eq!(prios, vec![5, 4, 1]);
    // a success resets the budget
    q.shift();
    q.connected(id, true);
    assert_eq!(q.status(id).map(|s| s.retries), Some(0));
}

#[test]
fn same_nat_peers_get_one_attempt_and_banned_peers_never_return() {
    let mut q = queue(4);
    let now = Instant::now();
    let nat = q
        .add(Peer {
            to: Some(addr("5.5.5.5:7")),
            ..public("5.5.5.5:6000")
        })
        .expect("add");
    q.shift();
    assert!(!q.requeue(nat, now));
    let b = q.add(public("3.3.3.3:3")).expect("add");
    q.ban(b);
    assert_eq!(q.len(), 0);
    q.add(public("3.3.3.3:3"));
    assert_eq!(q.len(), 0);
    advance(&mut q, now + Duration::from_secs(60));
    assert!(q.status(b).expect("remembered").banned);
    // readd (after a duplicate's survivor closed) starts it afresh
    let c = q.readd(b).expect("readd");
    assert_eq!(
        q.status(c).map(|s| (s.banned, s.queued)),
        Some((false, true))
    );
}

#[test]
fn memory_is_bounded() {
    let mut q = PeerQueue::new(QueueConfig {
        max_known: 10,
        seed: Some(5),
        ..QueueConfig::default()
    });
    for i in 0..100u16 {
        q.add(public(&format!("1.1.1.1:{}", i + 1)));
    }
    assert_eq!(q.known(), 10);
}

const SMALL: [u8; 32] = [1; 32];
const LARGE: [u8; 32] = [2; 32];

fn side(initiator: bool, transport: Transport) -> ConnectionSide {
    ConnectionSide {
        initiator,
        transport,
    }
}

#[test]
fn dedup_rule_is_nodes() {
    use Transport::{Tcp, Utp};
    assert_eq!(
        resolve(&SMALL, &SMALL, None, side(true, Tcp)),
        Verdict::SelfConnection
    );
    assert_eq!(
        resolve(&SMALL, &LARGE, None, side(true, Tcp)),
        Verdict::Unique
    );
    // same transport: the connection dialled by the smaller key survives
    assert_eq!(
        resolve(&SMALL, &LARGE, Some(side(false, Tcp)), side(true, Tcp)),
        Verdict::EarlierIsDuplicate
    );
    assert_eq!(
        resolve(&SMALL, &LARGE, Some(side(true, Tcp)), side(false, Tcp)),
        Verdict::CurrentIsDuplicate
    );
    assert_eq!(
        resolve(&LARGE, &SMALL, Some(side(false, Tcp)), side(true, Tcp)),
        Verdict::CurrentIsDuplicate
    );
    assert_eq!(
        resolve(&LARGE, &SMALL, Some(side(true, Tcp)), side(false, Tcp)),
        Verdict::EarlierIsDuplicate
    );
    // different transports: TCP survives whoever dialled
    for (a, b) in [(true, false), (false, true), (true, true), (false, false)] {
        assert_eq!(
            resolve(&SMALL, &LARGE, Some(side(a, Utp)), side(b, Tcp)),
            Verdict::EarlierIsDuplicate
        );
        assert_eq!(
            resolve(&LARGE, &SMALL, Some(side(a, Tcp)), side(b, Utp)),
            Verdict::CurrentIsDuplicate
        );
    }
}

#[test]
fn both_sides_of_a_double_connection_agree() {
    // A (small key) and B each dial the other over TCP: connection 1 is
    // A->B, connection 2 is B->A. Each side sees them in either order.
    for a_first in [true, false] {
        for b_first in [true, false] {
            let mut a = Deduplicator::default();
            let mut b = Deduplicator::default();
            let a_conns = [
                (1, side(true, Transport::Tcp)),
                (2, side(false, Transport::Tcp)),
            ];
            let b_conns = [
                (1, side(false, Transport::Tcp)),
                (2, side(true, Transport::Tcp)),
            ];
            let order =
                |first: bool, c: [(u8, ConnectionSide); 2]| if first { c } else { [c[1], c[0]] };
            let mut a_dup = None;
            for (id, s) in order(a_first, a_conns) {
                a_dup = a.add(&SMALL, &LARGE, id, s).duplicate.or(a_dup);
            }
            let mut b_dup = None;
            for (id, s) in order(b_first, b_conns) {
                b_dup = b.add(&LARGE, &SMALL, id, s).duplicate.or(b_dup);
            }
            // both drop connection 2 (dialled by B, the larger key)
            assert_eq!((a_dup, b_dup), (Some(2), Some(2)), "{a_first} {b_first}");
            assert_eq!(a.len(), 1);
            a.remove(2);
            assert_eq!(a.len(), 1);
            a.remove(1);
            assert!(a.is_empty());
        }
    }
}
