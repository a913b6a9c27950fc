//! Block content generated identically here and in `tests/js/lib/content.js`.
//!
//! A feed is described by a [`Spec`]: the 32-byte seed of its key pair and its append batches.
//! A batch is either random ([`Batch::Random`]: `count` blocks whose sizes and bytes come from a
//! mulberry32 stream seeded with `seed`) or literal ([`Batch::Literal`]). Each batch is one
//! append call, hence one signature, on both sides.

use serde_json::{Value, json};

/// mulberry32: 32-bit state, 32-bit output; picked because JS computes it exactly with
/// `Math.imul`, so both sides draw the same numbers.
#[derive(Clone, Debug)]
pub struct Prng(u32);

impl Prng {
    /// A stream from `seed`.
    pub fn new(seed: u32) -> Self {
        Prng(seed)
    }

    /// The next 32-bit number.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let a = self.0;
        let mut t = (a ^ (a >> 15)).wrapping_mul(1 | a);
        t = t.wrapping_add((t ^ (t >> 7)).wrapping_mul(61 | t)) ^ t;
        t ^ (t >> 14)
    }

    /// A number in `[0, n)` (`n > 0`), by plain modulo as the JS side does.
    pub fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n
    }

    /// 32 bytes, for a key seed.
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(4) {
            chunk.copy_from_slice(&self.next_u32().to_le_bytes()); // u32le
        }
        out
    }
}

/// One append call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// `count` blocks of sizes in `[min, max]`, from the stream of `seed`.
    Random {
        /// Blocks in the batch.
        count: u32,
        /// Smallest block size.
        min: u32,
        /// Largest block size.
        max: u32,
        /// Seed of the batch's stream.
        seed: u32,
    },
    /// These blocks.
    Literal(Vec<Vec<u8>>),
}

impl Batch {
    /// A random batch.
    pub fn random(count: u32, min: u32, max: u32, seed: u32) -> Self {
        Batch::Random {
            count,
            min,
            max,
            seed,
        }
    }

    /// The batch's blocks: for each, the size, then its bytes drawn as little-endian words.
    pub fn blocks(&self) -> Vec<Vec<u8>> {
        match self {
            Batch::Literal(blocks) => blocks.clone(),
            &Batch::Random {
                count,
                min,
                max,
                seed,
            } => {
                let mut rng = Prng::new(seed);
                let span = max - min + 1;
                (0..count)
                    .map(|_| {
                        let size = if span > 1 { min + rng.below(span) } else { min };
                        let mut block = vec![0u8; size as usize];
                        for chunk in block.chunks_mut(4) {
                            let word = rng.next_u32().to_le_bytes(); // u32le
                            chunk.copy_from_slice(&word[..chunk.len()]);
                        }
                        block
                    })
                    .collect()
            }
        }
    }

    /// The batch as `feed-tool.js` reads it.
    pub fn to_json(&self) -> Value {
        match self {
            Batch::Literal(blocks) => {
                json!({ "hex": blocks.iter().map(hex::encode).collect::<Vec<_>>() })
            }
            Batch::Random {
                count,
                min,
                max,
                seed,
            } => json!({ "count": count, "min": min, "max": max, "seed": seed }),
        }
    }
}

/// A feed: its key seed and its batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Seed of the Ed25519 key pair (`crypto.keyPair(seed)` / `KeyPair::from_seed`).
    pub key_seed: [u8; 32],
    /// Append calls, in order.
    pub batches: Vec<Batch>,
}

impl Spec {
    /// The key pair both sides derive from the seed.
    pub fn key_pair(&self) -> hypercore::KeyPair {
        hypercore::KeyPair::from_seed(&self.key_seed)
    }

    /// Every block, in feed order.
    pub fn blocks(&self) -> Vec<Vec<u8>> {
        self.batches.iter().flat_map(Batch::blocks).collect()
    }

    /// The spec as `feed-tool.js` reads it.
    pub fn to_json(&self) -> Value {
        json!({
            "keySeed": hex::encode(self.key_seed),
            "batches": self.batches.iter().map(Batch::to_json).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulberry32_matches_the_js_reference_values() {
        // From `prng(1)` in tests/js/lib/content.js (and the published mulberry32).
        let mut rng = Prng::new(1);
        let got: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
        assert_eq!(got, [2_693_262_067, 11_749_833, 2_265_367_787]);
    }

    #[test]
    fn random_batch_matches_the_js_generator() {
        // `batchBlocks({count: 3, min: 0, max: 10, seed: 5})` in tests/js/lib/content.js.
        let blocks: Vec<String> = Batch::random(3, 0, 10, 5)
            .blocks()
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(blocks, ["cf80d2c57e63", "", "1c"]);
    }

    #[test]
    fn random_batch_sizes_stay_in_range_and_bytes_fill_the_block() {
        let blocks = Batch::random(50, 3, 9, 42).blocks();
        assert_eq!(blocks.len(), 50);
        assert!(blocks.iter().all(|b| (3..=9).contains(&b.len())));
        assert!(blocks.iter().any(|b| b.len() != blocks[0].len()));
        assert_ne!(blocks[0], blocks[1]);
    }
}
