//! [`VersionVector`]: the member versions a write had seen, kept in the Stat's metadata.

use std::collections::BTreeMap;

use hyperdrive::Stat;

use crate::varint;

/// Metadata key of the version vector in a Stat written through a union. Node keeps unknown
/// metadata keys and ignores them; every `ddrive.` key is reserved for ddrive.
pub const CLOCK_KEY: &str = "ddrive.clock";

/// Prefix of the metadata keys ddrive reserves (callers' `set_metadata` refuses them).
pub const RESERVED_PREFIX: &str = "ddrive.";

/// For each member drive (by metadata key), the drive's version (metadata feed length) a write
/// had seen: a node of that drive at feed index `i` was seen when the entry is above `i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<[u8; 32], u64>);

impl VersionVector {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `drive`'s entry.
    pub fn set(&mut self, drive: [u8; 32], version: u64) {
        self.0.insert(drive, version);
    }

    /// `drive`'s entry (0 when absent: nothing of it seen).
    pub fn get(&self, drive: &[u8; 32]) -> u64 {
        self.0.get(drive).copied().unwrap_or(0)
    }

    /// `drive`'s entry, if the vector has one.
    pub fn entry(&self, drive: &[u8; 32]) -> Option<u64> {
        self.0.get(drive).copied()
    }

    /// Whether the write had seen block `seq` of `drive`.
    pub fn saw(&self, drive: &[u8; 32], seq: u64) -> bool {
        self.get(drive) > seq
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8; 32], u64)> {
        self.0.iter().map(|(k, v)| (k, *v))
    }

    /// `0x01` (format), then per entry the 32-byte key and its version as a varint
    /// (little-endian base-128), in key order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len() * 36);
        out.push(1);
        for (k, v) in &self.0 {
            out.extend_from_slice(k);
            varint::put(&mut out, *v);
        }
        out
    }

    /// Decodes [`VersionVector::encode`]'s bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let (&format, mut rest) = buf.split_first().ok_or("empty version vector")?;
        if format != 1 {
            return Err("unknown version vector format");
        }
        let mut map = BTreeMap::new();
        while !rest.is_empty() {
            let key: [u8; 32] = rest
                .get(..32)
                .and_then(|k| k.try_into().ok())
                .ok_or("truncated key")?;
            let (v, n) = varint::get(&rest[32..]).ok_or("bad version varint")?;
            map.insert(key, v);
            rest = &rest[32 + n..];
        }
        Ok(VersionVector(map))
    }

    /// The vector a Stat carries (empty for Stats Node or a plain drive wrote, or a damaged
    /// record: those order by time only).
    pub fn of_stat(stat: &Stat) -> Self {
        match stat.metadata.get(CLOCK_KEY) {
            Some(Some(bytes)) => Self::decode(bytes).unwrap_or_default(),
            _ => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_answers_saw() {
        let mut v = VersionVector::new();
        v.set([1; 32], 5);
        v.set([2; 32], 300);
        let back = VersionVector::decode(&v.encode()).expect("decodes");
        assert_eq!(back, v);
        assert!(back.saw(&[1; 32], 4));
        assert!(!back.saw(&[1; 32], 5));
        assert!(!back.saw(&[3; 32], 0));
        assert!(VersionVector::decode(&[1, 0, 0]).is_err());
        assert!(VersionVector::decode(&[2]).is_err());
    }
}
