//! The routing table: a k-bucket tree (k-bucket 5.1 semantics) where only the
//! bucket holding our own id splits.
//!
//! Stored as a list of buckets: bucket `i` (for `i` below the last) holds the
//! contacts whose id first differs from ours at bit `i`; the last bucket holds
//! everything sharing at least `len - 1` leading bits with us and is the only
//! one that may split. Inside a bucket contacts are ordered least recently
//! seen first, like k-bucket's arrays. Size is bounded by `K × 257`.

use std::net::SocketAddrV4;

use crate::addr::{NodeAddr, NodeId};

/// Contacts per bucket (k-bucket default, dht-rpc uses it).
pub const K: usize = 20;
/// How many of a full bucket's oldest contacts are offered for a ping.
pub const PING_COUNT: usize = 3;

/// A node in the routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Its id.
    pub id: NodeId,
    /// Where it sent from.
    pub addr: SocketAddrV4,
    /// The last round-trip token it gave us, if any.
    pub token: Option<Vec<u8>>,
    /// Our address as it last reported it (`to` of its message).
    pub to: Option<Vec<u8>>,
    /// The maintenance tick we last heard from it.
    pub tick: u64,
    /// Monotonic "last added/refreshed" stamp (dht-rpc's time-ordered set).
    pub seen: u64,
}

impl Contact {
    /// Its id and address.
    pub fn node(&self) -> NodeAddr {
        NodeAddr {
            id: self.id,
            addr: self.addr,
        }
    }
}

/// What `add` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// New contact stored.
    Inserted,
    /// Known contact refreshed and moved to the most-recent end.
    Refreshed,
    /// The bucket is full and cannot split: these oldest contacts should be
    /// pinged; the newcomer was not stored.
    BucketFull(Vec<Contact>),
    /// The id is our own.
    Own,
}

/// The k-bucket routing table.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Vec<Contact>>,
}

fn leading_zeros(d: &[u8; 32]) -> usize {
    let mut n = 0;
    for b in d {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros() as usize;
        }
    }
    n
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: NodeId) -> Self {
        RoutingTable {
            own,
            buckets: vec![Vec::new()],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        let lz = leading_zeros(&self.own.distance(id));
        lz.min(self.buckets.len() - 1)
    }

    /// Adds or refreshes `contact` (k-bucket `add`).
    pub fn add(&mut self, contact: Contact) -> Added {
        if contact.id == self.own {
            return Added::Own;
        }
        loop {
            let depth = self.buckets.len() - 1;
            let bi = self.bucket_index(&contact.id);
            let bucket = &mut self.buckets[bi];
            if let Some(pos) = bucket.iter().position(|c| c.id == contact.id) {
                bucket.remove(pos);
                bucket.push(contact);
                return Added::Refreshed;
            }
            if bucket.len() < K {
                bucket.push(contact);
                return Added::Inserted;
            }
            if bi < depth || depth >= 255 {
                return Added::BucketFull(bucket.iter().take(PING_COUNT).cloned().collect());
            }
            let own = self.own;
            let (stay, far): (Vec<Contact>, Vec<Contact>) = std::mem::take(&mut self.buckets[bi])
                .into_iter()
                .partition(|c| leading_zeros(&own.distance(&c.id)) == depth);
            self.buckets[bi] = stay;
            self.buckets.push(far);
        }
    }

    /// The contact with `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Contact> {
        self.buckets[self.bucket_index(id)]
            .iter()
            .find(|c| c.id == *id)
    }

    /// Removes and returns the contact with `id`.
    pub fn remove(&mut self, id: &NodeId) -> Option<Contact> {
        let bi = self.bucket_index(id);
        let pos = self.buckets[bi].iter().position(|c| c.id == *id)?;
        Some(self.buckets[bi].remove(pos))
    }

    /// Number of contacts.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Whether there are no contacts.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(Vec::is_empty)
    }

    /// All contacts.
    pub fn iter(&self) -> impl Iterator<Item = &Contact> {
        self.buckets.iter().flatten()
    }

    /// The `n` contacts closest to `target` by XOR distance, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeAddr> {
        let mut all: Vec<NodeAddr> = self.iter().map(Contact::node).collect();
        all.sort_by_key(|c| target.distance(&c.id));
        all.truncate(n);
        all
    }

    /// Up to `n` contacts least recently added/refreshed, oldest first.
    pub fn oldest(&self, n: usize) -> Vec<Contact> {
        let mut all: Vec<&Contact> = self.iter().collect();
        all.sort_by_key(|c| c.seen);
        all.into_iter().take(n).cloned().collect()
    }

    /// Number of buckets (for tests of the split rule).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn contact(id: NodeId, seen: u64) -> Contact {
        Contact {
            id,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1000 + seen as u16),
            token: None,
            to: None,
            tick: 0,
            seen,
        }
    }

    fn id_with_prefix(first: u8, n: u8) -> NodeId {
        let mut b = [0u8; 32];
        b[0] = first;
        b[31] = n;
        NodeId(b)
    }

    #[test]
    fn only_the_own_bucket_splits_and_full_buckets_offer_their_oldest() {
        let own = NodeId([0u8; 32]);
        let mut t = RoutingTable::new(own);
        // 20 far contacts (first bit 1) fill the root bucket
        for n in 0..20 {
            assert_eq!(
                t.add(contact(id_with_prefix(0x80, n), u64::from(n))),
                Added::Inserted
            );
        }
        // a near one forces a split: far ones go to the non-splitting bucket
        assert_eq!(
            t.add(contact(id_with_prefix(0x01, 0), 100)),
            Added::Inserted
        );
        assert_eq!(t.bucket_count(), 2);
        // the far bucket is full and may not split: it offers its 3 oldest
        match t.add(contact(id_with_prefix(0x80, 99), 101)) {
            Added::BucketFull(old) => {
                let ids: Vec<NodeId> = old.iter().map(|c| c.id).collect();
                assert_eq!(
                    ids,
                    (0..3).map(|n| id_with_prefix(0x80, n)).collect::<Vec<_>>()
                );
            }
            other => panic!("{other:?}"),
        }
        // refreshing moves a contact to the most recent end
        assert_eq!(
            t.add(contact(id_with_prefix(0x80, 0), 102)),
            Added::Refreshed
        );
        match t.add(contact(id_with_prefix(0x80, 98), 103)) {
            Added::BucketFull(old) => assert_eq!(old[0].id, id_with_prefix(0x80, 1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.len(), 21);
        assert_eq!(t.add(contact(own, 0)), Added::Own);
        // many near contacts keep splitting the own bucket
        for n in 0..200u8 {
            let mut b = [0u8; 32];
            b[1] = n;
            b[31] = 1;
            t.add(contact(NodeId(b), 200 + u64::from(n)));
        }
        assert!(t.bucket_count() > 2);
        let target = id_with_prefix(0x80, 5);
        let c = t.closest(&target, 3);
        assert_eq!(c[0].id, target);
        assert!(
            c.windows(2)
                .all(|w| target.distance(&w[0].id) <= target.distance(&w[1].id))
        );
        assert!(t.remove(&target).is_some());
        assert!(t.get(&target).is_none());
    }
}
