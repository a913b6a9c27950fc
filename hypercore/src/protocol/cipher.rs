//! The transport encryption: one continuous XSalsa20 keystream per direction, keyed with the
//! Noise split key of that direction and nonced with the sender's handshake-payload nonce. No MAC,
//! no per-frame nonce, no rekey (`simple-hypercore-protocol/lib/xor.js`).

use std::fmt;

use super::xsalsa20::XSalsa20;

/// One direction's keystream; XORs bytes in place, continuing across calls.
pub struct TransportCipher {
    stream: XSalsa20,
}

impl TransportCipher {
    /// The keystream for `key` and the 24-byte `nonce`, at position 0.
    pub fn new(key: &[u8; 32], nonce: &[u8; 24]) -> Self {
        TransportCipher {
            stream: XSalsa20::new(key, nonce),
        }
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts).
    pub fn apply(&mut self, data: &mut [u8]) {
        self.stream.apply(data);
    }
}

impl fmt::Debug for TransportCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportCipher { .. }")
    }
}

/// The capability proving knowledge of `feed_key` in a session with split keys `tx`/`rx`:
/// `BLAKE2b-256(key = rx; "hypercore capability" ‖ tx ‖ feed_key)`. The remote computes it with
/// its own keys, which equal ours swapped, so to check a remote's capability call this with
/// `tx` and `rx` swapped.
pub fn capability(feed_key: &[u8; 32], tx: &[u8; 32], rx: &[u8; 32]) -> [u8; 32] {
    let hash = blake2b_simd::Params::new()
        .hash_length(32)
        .key(rx)
        .to_state()
        .update(b"hypercore capability")
        .update(tx)
        .update(feed_key)
        .finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_bytes());
    out
}
