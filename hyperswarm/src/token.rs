//! Round-trip tokens: `BLAKE2b-256(secret ‖ ASCII dotted-quad of the requester's IP)`.
//!
//! The port is not part of the token and the IP is hashed as text, exactly
//! like dht-rpc. Two secrets (current and previous) are accepted, so a token
//! stays valid for one to two rotation periods.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How often the current secret is replaced (dht-rpc: 5 minutes).
pub const ROTATE_EVERY: Duration = Duration::from_secs(300);

/// The current and previous secrets of a node.
#[derive(Clone)]
pub struct Tokens {
    secrets: [[u8; 32]; 2],
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(<secret>)")
    }
}

impl Tokens {
    /// Starts with two given secrets (current, previous).
    pub fn new(current: [u8; 32], previous: [u8; 32]) -> Self {
        Tokens {
            secrets: [current, previous],
        }
    }

    /// The token the current secret gives `ip`.
    pub fn token(&self, ip: Ipv4Addr) -> [u8; 32] {
        token_for(&self.secrets[0], ip)
    }

    /// Whether `token` was issued to `ip` under the current or previous secret.
    pub fn verify(&self, ip: Ipv4Addr, token: &[u8]) -> bool {
        self.secrets
            .iter()
            .any(|s| token_for(s, ip).as_slice() == token)
    }

    /// Makes `fresh` the current secret and the current one the previous.
    pub fn rotate(&mut self, fresh: [u8; 32]) {
        self.secrets[1] = self.secrets[0];
        self.secrets[0] = fresh;
    }
}

/// `BLAKE2b-256(secret ‖ ip.to_string())`, unkeyed.
pub fn token_for(secret: &[u8; 32], ip: Ipv4Addr) -> [u8; 32] {
    let mut st = blake2b_simd::Params::new().hash_length(32).to_state();
    st.update(secret);
    st.update(ip.to_string().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(st.finalize().as_bytes());
    out
}
