//! The sans-IO replicator, two and three sessions back to back: sparse, full, live, relaying,
//! bad proofs, stalls, unrequested data.

mod replicate_common;

use std::time::Duration;

use anyhow::Result;
use std::time::Instant;

use hypercore::protocol::{Message, Want};
use hypercore::replicate::{Mode, Outgoing, Replicator, ReplicatorConfig};
use replicate_common::{Net, block, clone_of, writer};

fn sparse() -> ReplicatorConfig {
    ReplicatorConfig::default()
}

fn full() -> ReplicatorConfig {
    let mut c = ReplicatorConfig::default();
    c.mode = Mode::Full;
    c
}

#[test]
fn sparse_read_fetches_one_block() -> Result<()> {
    let w = writer(1, 100)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    net.link(a, b)?;
    net.pump()?;
    assert_eq!(net.nodes[b].feed.len(), 0, "nothing fetched before a read");
    net.want(b, 42)?;
    let reader = &mut net.nodes[b].feed;
    assert_eq!(reader.get(42)?, block(42));
    assert_eq!(reader.downloaded(0, 100), 1);
    assert_eq!(reader.len(), 100, "the signature proves the whole length");
    let stats = net.nodes[b].rep.stats();
    assert_eq!((stats.downloaded_blocks, stats.downloaded_bytes), (1, 8));
    assert_eq!(net.nodes[a].rep.stats().uploaded_blocks, 1);
    // A neighbour needs only a small proof now.
    net.want(b, 43)?;
    assert_eq!(net.nodes[b].feed.get(43)?, block(43));
    assert_eq!(net.nodes[b].feed.downloaded(0, 100), 2);
    Ok(())
}

#[test]
fn full_mode_downloads_everything_with_many_requests_in_flight() -> Result<()> {
    let w = writer(2, 1000)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, full()));
    let l = net.link(a, b)?;
    net.pump()?;
    let reader = &mut net.nodes[b].feed;
    assert_eq!(reader.len(), 1000);
    assert_eq!(reader.downloaded(0, 1000), 1000);
    for i in [0, 1, 499, 999] {
        assert_eq!(reader.get(i)?, block(i));
    }
    assert_eq!(reader.audit()?.invalid, 0);
    let peer = net.links[l].peers[1].expect("reader peer");
    let ps = net.nodes[b].rep.peer_stats(peer).expect("stats");
    assert_eq!(ps.downloaded_blocks, 1000);
    assert_eq!(net.nodes[b].rep.inflight(peer), 0);
    Ok(())
}

#[test]
fn pipelining_keeps_max_requests_in_flight() -> Result<()> {
    let w = writer(3, 500)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, full()));
    let l = net.link(a, b)?;
    // Hold back every Data: the reader's pipeline fills and stops at the limit.
    net.links[l].filters[0] = Some(Box::new(|m| !matches!(m, Message::Data(_))));
    net.pump()?;
    let peer = net.links[l].peers[1].expect("reader peer");
    assert_eq!(net.nodes[b].rep.inflight(peer), 64);
    Ok(())
}

#[test]
fn live_appends_reach_full_and_waiting_readers() -> Result<()> {
    let w = writer(4, 10)?;
    let (f, s) = (clone_of(&w)?, clone_of(&w)?);
    let mut net = Net::new();
    let a = net.node(w, sparse());
    let (b, c) = (net.node(f, full()), net.node(s, sparse()));
    net.link(a, b)?;
    net.link(a, c)?;
    net.pump()?;
    assert_eq!(net.nodes[b].feed.len(), 10);
    // The sparse reader waits past the end.
    net.want(c, 11)?;
    assert!(!net.nodes[c].feed.has(11));
    net.append(a, &[block(10), block(11)])?;
    assert_eq!(net.nodes[b].feed.len(), 12);
    assert_eq!(net.nodes[b].feed.get(11)?, block(11));
    assert_eq!(net.nodes[c].feed.get(11)?, block(11));
    assert_eq!(net.nodes[c].feed.downloaded(0, 12), 1);
    Ok(())
}

#[test]
fn three_peers_relay_through_the_middle() -> Result<()> {
    let w = writer(5, 20)?;
    let (m, r) = (clone_of(&w)?, clone_of(&w)?);
    let mut net = Net::new();
    let a = net.node(w, sparse());
    let (b, c) = (net.node(m, full()), net.node(r, sparse()));
    net.link(a, b)?;
    net.link(b, c)?; // the reader only knows the middle
    net.pump()?;
    net.want(c, 7)?;
    assert_eq!(net.nodes[c].feed.get(7)?, block(7));
    // Live: a new block travels writer -> middle -> waiting reader.
    net.want(c, 20)?;
    net.append(a, &[block(20)])?;
    assert_eq!(net.nodes[c].feed.get(20)?, block(20));
    assert_eq!(net.nodes[a].rep.stats().uploaded_blocks, 21);
    assert_eq!(net.nodes[b].rep.stats().uploaded_blocks, 2);
    Ok(())
}

#[test]
fn bad_proof_fails_the_peer_and_another_peer_serves() -> Result<()> {
    let w = writer(6, 30)?;
    let (m, r) = (clone_of(&w)?, clone_of(&w)?);
    let mut net = Net::new();
    let a = net.node(w, sparse());
    let (b, c) = (net.node(m, full()), net.node(r, sparse()));
    net.link(a, b)?;
    net.pump()?;
    let evil = net.link(b, c)?; // c gets tampered data from b first
    net.links[evil].filters[0] = Some(Box::new(|m| {
        if let Message::Data(d) = m
            && let Some(v) = d.value.as_mut()
        {
            v[0] ^= 1;
        }
        true
    }));
    net.pump()?;
    net.want(c, 9)?;
    assert!(!net.nodes[c].feed.has(9), "nothing unverified is stored");
    assert_eq!(net.nodes[c].feed.downloaded(0, 30), 0);
    assert!(
        net.nodes[c]
            .events
            .iter()
            .any(|e| e.contains("invalid proof")),
        "{:?}",
        net.nodes[c].events
    );
    assert!(net.links[evil].peers[1].is_none(), "bad peer dropped");
    // A good peer connects: the wanted block comes from it.
    net.link(a, c)?;
    net.pump()?;
    assert_eq!(net.nodes[c].feed.get(9)?, block(9));
    Ok(())
}

#[test]
fn a_bad_block_amid_a_batch_keeps_the_good_ones_before_it() -> Result<()> {
    let w = writer(8, 30)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, full()));
    let link = net.link(a, b)?;
    net.links[link].filters[0] = Some(Box::new(|m| {
        if let Message::Data(d) = m
            && d.index == 12
            && let Some(v) = d.value.as_mut()
        {
            v[0] ^= 1;
        }
        true
    }));
    net.pump()?;
    let clone = &mut net.nodes[b];
    // The last block, announced first, came alone; the seeder then answers the other requests
    // at once, so blocks 0..29 arrive as one batch: the ones before the bad block were
    // verified and stored, nothing from it on was.
    let stored: Vec<u64> = (0..29).filter(|&i| clone.feed.has(i)).collect();
    assert_eq!(stored, (0..12).collect::<Vec<_>>());
    for i in 0..12 {
        assert_eq!(clone.feed.get(i)?, block(i));
    }
    assert_eq!(clone.feed.audit()?.invalid, 0);
    assert!(
        clone.events.iter().any(|e| e.contains("failed")),
        "{:?}",
        clone.events
    );
    assert!(net.links[link].peers[1].is_none(), "bad peer dropped");
    Ok(())
}

#[test]
fn bad_signature_is_refused() -> Result<()> {
    let w = writer(7, 5)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    let l = net.link(a, b)?;
    net.links[l].filters[0] = Some(Box::new(|m| {
        if let Message::Data(d) = m
            && let Some(s) = d.signature.as_mut()
        {
            s[10] ^= 0xff;
        }
        true
    }));
    net.pump()?;
    net.want(b, 2)?;
    assert_eq!(net.nodes[b].feed.len(), 0);
    assert!(!net.nodes[b].feed.has(2));
    assert!(
        net.nodes[b].events.iter().any(|e| e.contains("signature")),
        "{:?}",
        net.nodes[b].events
    );
    Ok(())
}

#[test]
fn stalled_peer_times_out_and_the_request_moves() -> Result<()> {
    let w = writer(8, 12)?;
    let (m, r) = (clone_of(&w)?, clone_of(&w)?);
    let mut net = Net::new();
    let a = net.node(w, sparse());
    let (b, c) = (net.node(m, full()), net.node(r, sparse()));
    net.link(a, b)?;
    net.pump()?;
    let stall = net.link(b, c)?;
    // The middle announces its blocks but never answers a request.
    net.links[stall].filters[0] = Some(Box::new(|m| !matches!(m, Message::Data(_))));
    net.pump()?;
    net.link(a, c)?; // the writer is there too, but 5 is already asked of the middle
    net.pump()?;
    net.want(c, 5)?;
    // Peers are asked in the order they joined: the stalling middle got the request.
    assert!(!net.nodes[c].feed.has(5));
    net.advance(Duration::from_secs(19))?;
    assert!(!net.nodes[c].feed.has(5), "not before the request timeout");
    net.advance(Duration::from_secs(1))?;
    assert!(
        net.nodes[c]
            .events
            .iter()
            .any(|e| e.contains("did not answer")),
        "{:?}",
        net.nodes[c].events
    );
    assert_eq!(net.nodes[c].feed.get(5)?, block(5));
    Ok(())
}

#[test]
fn stall_with_a_single_peer_is_detected() -> Result<()> {
    let w = writer(9, 4)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    let l = net.link(a, b)?;
    net.links[l].filters[0] = Some(Box::new(|m| !matches!(m, Message::Data(_))));
    net.pump()?;
    net.want(b, 1)?;
    let peer = net.links[l].peers[1].expect("peer");
    assert_eq!(net.nodes[b].rep.inflight(peer), 1);
    net.advance(Duration::from_secs(20))?;
    assert!(net.links[l].peers[1].is_none(), "stalled peer dropped");
    assert!(
        net.nodes[b]
            .rep
            .last_peer_error()
            .is_some_and(|e| e.contains("block 1"))
    );
    assert!(
        net.nodes[b].rep.is_wanted(1),
        "still wanted, for the next peer"
    );
    Ok(())
}

#[test]
fn unrequested_data_is_not_stored() -> Result<()> {
    let w = writer(10, 4)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let mut w = w;
    let proof = w.proof(3, Default::default())?;
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    let l = net.link(a, b)?;
    net.pump()?;
    let dk = net.nodes[a].feed.discovery_key();
    let data = hypercore::protocol::Data {
        index: 3,
        value: Some(block(3)),
        nodes: proof
            .nodes
            .iter()
            .map(|n| hypercore::protocol::DataNode {
                index: n.index,
                hash: n.hash.to_vec(),
                size: n.size,
            })
            .collect(),
        signature: proof.signature.map(|s| s.0.to_vec()),
    };
    net.links[l].sessions[0].send(&dk, Message::Data(data))?;
    net.pump()?;
    assert!(!net.nodes[b].feed.has(3));
    assert_eq!(net.nodes[b].feed.len(), 0);
    Ok(())
}

#[test]
fn malformed_data_fails_the_peer_without_panic() -> Result<()> {
    let w = writer(11, 4)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    let l = net.link(a, b)?;
    net.links[l].filters[0] = Some(Box::new(|m| {
        if let Message::Data(d) = m {
            d.signature = Some(vec![1, 2, 3]);
            if let Some(n) = d.nodes.first_mut() {
                n.index = u64::MAX;
            }
        }
        true
    }));
    net.pump()?;
    net.want(b, 0)?;
    assert!(!net.nodes[b].feed.has(0));
    assert!(
        net.nodes[b].events.iter().any(|e| e.contains("malformed")),
        "{:?}",
        net.nodes[b].events
    );
    Ok(())
}

#[test]
fn feed_extensions_map_through_the_senders_names() -> Result<()> {
    let w = writer(9, 3)?;
    let r = clone_of(&w)?;
    let mut net = Net::new();
    let (a, b) = (net.node(w, sparse()), net.node(r, sparse()));
    // "shared" is id 0 on the writer and id 1 on the clone.
    for name in ["w-only", "shared"] {
        assert!(net.nodes[a].rep.register_extension(name));
    }
    for name in ["shared", "a-clone-only"] {
        assert!(net.nodes[b].rep.register_extension(name));
    }
    net.link(a, b)?;
    net.pump()?;
    let clone = &mut net.nodes[b].rep;
    assert!(clone.broadcast_extension("a-clone-only", b"dropped")?);
    assert!(clone.broadcast_extension("shared", b"x")?);
    net.pump()?;
    let got: Vec<&String> = net.nodes[a]
        .events
        .iter()
        .filter(|e| e.starts_with("Extension"))
        .collect();
    assert_eq!(
        got,
        [r#"Extension { peer: PeerId(0), name: "shared", payload: [120] }"#]
    );
    let writer = &mut net.nodes[a].rep;
    let peer = writer.peers().next().expect("one peer");
    writer.send_extension(peer, "shared", b"y")?;
    net.pump()?;
    assert!(
        net.nodes[b]
            .events
            .iter()
            .any(|e| e == r#"Extension { peer: PeerId(0), name: "shared", payload: [121] }"#)
    );
    Ok(())
}

#[test]
fn opening_wants_are_the_wants_a_new_peer_gets() -> Result<()> {
    let region = |r: u64| Want {
        start: r << 20,
        length: Some(1 << 20),
    };
    let now = Instant::now();
    let w = writer(9, 10)?;
    assert!(
        Replicator::new(sparse()).opening_wants(&w).is_empty(),
        "a writer downloads nothing"
    );
    let mut r = clone_of(&w)?;
    let mut rep = Replicator::new(sparse());
    assert_eq!(rep.opening_wants(&r), vec![region(0)], "region 0, always");
    rep.want(&mut r, (3 << 20) + 5, now);
    let early = rep.opening_wants(&r);
    assert_eq!(
        early,
        vec![region(3), region(0)],
        "and every region a reader waits in"
    );
    // The peer still gets them itself once the channel is open: a remote that had not opened
    // the feed when the early ones came dropped them.
    let peer = rep.add_peer(&mut r, now);
    let mut sent = Vec::new();
    while let Some(out) = rep.poll_transmit(&mut r, peer)? {
        if let Outgoing::Message(Message::Want(want)) = out {
            sent.push(want);
        }
    }
    assert_eq!(sent, early);
    Ok(())
}
