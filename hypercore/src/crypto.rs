//! Keys, signatures and the BLAKE2b hashes hypercore 9 writes (hypercore-crypto 2).
//!
//! Every integer that enters a hash is a big-endian `u64` (docs/formats.md §2.3-2.4).

use std::fmt;

use blake2b_simd::Params;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::node::Node;

/// Hash type byte of a leaf (block) node.
const LEAF_TYPE: u8 = 0;
/// Hash type byte of a parent node.
const PARENT_TYPE: u8 = 1;
/// Hash type byte of the root list ("tree hash").
const ROOT_TYPE: u8 = 2;

/// The 32-byte Ed25519 public key that names a feed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// The 64-byte Ed25519 secret key (seed followed by the public key, libsodium layout).
///
/// Its `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 64]);

/// A detached 64-byte Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// A public key with its secret key.
#[derive(Clone)]
pub struct KeyPair {
    /// The public key.
    pub public: PublicKey,
    /// The secret key, `seed || public`.
    pub secret: SecretKey,
    /// Expanded once: deriving it costs a scalar multiplication, too much for every append.
    signing: SigningKey,
}

impl PartialEq for KeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public && self.secret == other.secret
    }
}

impl Eq for KeyPair {}

impl PublicKey {
    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The discovery key: BLAKE2b-256 keyed with the public key over `"hypercore"`.
    pub fn discovery_key(&self) -> [u8; 32] {
        let hash = Params::new()
            .hash_length(32)
            .key(&self.0)
            .hash(b"hypercore");
        to_array32(hash.as_bytes())
    }

    /// Lowercase hex of the key.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl SecretKey {
    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    fn seed(&self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&self.0[..32]);
        seed
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// The signature as bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// True for the all-zero slot that the signatures file holds where nothing was signed.
    pub fn is_blank(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", to_hex(&self.0))
    }
}

impl KeyPair {
    /// A new random key pair from the operating system's generator.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        // The OS generator failing leaves no safe way to make a key; JS (libsodium) aborts too.
        #[allow(clippy::expect_used)]
        getrandom::getrandom(&mut seed).expect("the operating system has no random source");
        Self::from_seed(&seed)
    }

    /// The deterministic key pair of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let public = PublicKey(signing.verifying_key().to_bytes());
        let mut secret = [0u8; 64];
        secret[..32].copy_from_slice(seed);
        secret[32..].copy_from_slice(&public.0);
        KeyPair {
            public,
            secret: SecretKey(secret),
            signing,
        }
    }

    /// Rebuilds a key pair from a stored secret key, checking that it matches `public`.
    pub fn from_secret(public: PublicKey, secret: SecretKey) -> Option<Self> {
        let pair = Self::from_seed(&secret.seed());
        (pair.public == public && pair.secret == secret).then_some(pair)
    }

    /// Signs `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

/// Verifies a detached signature; false for a malformed key or a bad signature.
pub fn verify(public: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&public.0) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &sig).is_ok()
}

/// Bytes hashed before a block's data: the type byte and the block length.
pub(crate) const LEAF_PREFIX_LEN: usize = 9;
/// Bytes a parent hash covers: type byte, size, two child hashes.
pub(crate) const PARENT_INPUT_LEN: usize = 73;

/// BLAKE2b-256 of `0x00 || u64be(len) || data`: the hash of a block.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut state = leaf_state(data.len());
    state.update(data);
    to_array32(state.finalize().as_bytes())
}

/// BLAKE2b-256 of `0x01 || u64be(size) || left.hash || right.hash`, children ordered by index.
pub fn parent_hash(a: &Node, b: &Node) -> [u8; 32] {
    to_array32(hash_params().hash(&parent_input(a, b)).as_bytes())
}

/// The parameters of every hash in the tree: unkeyed BLAKE2b with a 32-byte output.
pub(crate) fn hash_params() -> Params {
    let mut params = Params::new();
    params.hash_length(32);
    params
}

/// `0x00 || u64be(len)`, what a leaf hash covers before the block's bytes.
pub(crate) fn leaf_prefix(len: usize) -> [u8; LEAF_PREFIX_LEN] {
    let mut out = [LEAF_TYPE; LEAF_PREFIX_LEN];
    out[1..].copy_from_slice(&(len as u64).to_be_bytes()); // u64be
    out
}

/// A hash state that has taken a leaf's prefix and awaits the block's `len` bytes.
pub(crate) fn leaf_state(len: usize) -> blake2b_simd::State {
    let mut state = hash_params().to_state();
    state.update(&leaf_prefix(len));
    state
}

/// The exact bytes `parent_hash` covers, so many parents can be hashed in one SIMD pass.
pub(crate) fn parent_input(a: &Node, b: &Node) -> [u8; PARENT_INPUT_LEN] {
    let (left, right) = if a.index <= b.index { (a, b) } else { (b, a) };
    let mut out = [PARENT_TYPE; PARENT_INPUT_LEN];
    out[1..9].copy_from_slice(&(left.size + right.size).to_be_bytes()); // u64be
    out[9..41].copy_from_slice(&left.hash);
    out[41..].copy_from_slice(&right.hash);
    out
}

/// BLAKE2b-256 over `0x02` then each root's `hash || u64be(index) || u64be(size)`.
pub fn tree_hash(roots: &[Node]) -> [u8; 32] {
    let mut state = Params::new().hash_length(32).to_state();
    state.update(&[ROOT_TYPE]);
    for root in roots {
        state.update(&root.hash);
        state.update(&root.index.to_be_bytes()); // u64be
        state.update(&root.size.to_be_bytes()); // u64be
    }
    to_array32(state.finalize().as_bytes())
}

/// The 40 bytes a writer signs for `length`: `tree_hash(roots) || u64be(length)`.
pub fn signable(roots: &[Node], length: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&tree_hash(roots));
    out[32..].copy_from_slice(&length.to_be_bytes()); // u64be
    out
}

/// Checks a signature over the roots of `length`, accepting the legacy 32-byte form as JS does.
pub fn verify_roots(public: &PublicKey, roots: &[Node], length: u64, sig: &Signature) -> bool {
    let message = signable(roots, length);
    verify(public, &message, sig) || verify(public, &message[..32], sig)
}

pub(crate) fn to_array32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_check_values() {
        let pair = KeyPair::from_seed(&[1u8; 32]);
        assert_eq!(
            pair.public.to_hex(),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        assert_eq!(
            to_hex(&pair.public.discovery_key()),
            "c1feb82a2b3ba065ffed9f6addcf19ac250793bcab748986a1b4272c62da20e6"
        );
        assert_eq!(
            to_hex(&leaf_hash(b"a")),
            "ab27d45f509274ce0d08f4f09ba2d0e0d8df61a0c2a78932e81b5ef26ef398df"
        );
        let a = Node::new(0, leaf_hash(b"a"), 1);
        let b = Node::new(2, leaf_hash(b"bb"), 2);
        assert_eq!(
            to_hex(&parent_hash(&b, &a)),
            "69e71cdc0047d42bf0ebefa27ac283cf1e54caa41546b9b14b7d5a2046ea3f2f"
        );
    }

    #[test]
    fn secret_never_prints() {
        let pair = KeyPair::from_seed(&[7u8; 32]);
        let shown = format!("{pair:?} {:?}", pair.secret);
        assert!(!shown.contains(&to_hex(&pair.secret.0[..32])));
        assert!(shown.contains("SecretKey(..)"));
    }
}
