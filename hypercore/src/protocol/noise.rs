//! The Noise handshake of hypercore-protocol 8: `Noise_XX_25519_ChaChaPoly_BLAKE2b`, empty
//! prologue, as `noise-protocol` 3.0.1 runs it on libsodium.
//!
//! Hand-written over RustCrypto primitives rather than `snow` because the session needs what
//! `snow` keeps private or marks test-only: the raw split keys (the transport is XSalsa20 keyed by
//! them, not the Noise cipher), the last non-empty remote payload of any message (JS keeps that
//! one), and fixed ephemeral keys to replay the captured JS handshakes byte for byte.

use std::fmt;

use blake2b_simd::Params;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;

const PROTOCOL_NAME: &[u8] = b"Noise_XX_25519_ChaChaPoly_BLAKE2b";
const HASHLEN: usize = 64;
const BLOCKLEN: usize = 128;
const DHLEN: usize = 32;
const MACLEN: usize = 16;

/// Largest handshake message `simple-handshake` accepts.
pub const MAX_MESSAGE: usize = 65535;

/// Why the handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A message shorter than its pattern requires.
    #[error("handshake message {0} is too short")]
    TooShort(u8),
    /// A message longer than 65535 bytes.
    #[error("handshake message is longer than 65535 bytes")]
    TooLong,
    /// An encrypted part did not authenticate (wrong keys or tampering).
    #[error("handshake message {0} did not decrypt")]
    Decrypt(u8),
    /// The remote key is a low-order point (the DH result is all zeros; libsodium refuses it).
    #[error("the remote sent a weak Diffie-Hellman key")]
    WeakKey,
    /// A write or read out of turn.
    #[error("handshake step out of order")]
    OutOfOrder,
}

/// An X25519 key pair: the Noise static identity of a session, not a feed key.
#[derive(Clone)]
pub struct NoiseKeyPair {
    /// Public key.
    pub public: [u8; 32],
    secret: [u8; 32],
}

impl NoiseKeyPair {
    /// A fresh random key pair (libsodium `crypto_kx_keypair`: random secret, clamped on use).
    pub fn generate() -> Self {
        Self::from_secret(random_bytes())
    }

    /// The key pair of a 32-byte X25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        NoiseKeyPair {
            public: MontgomeryPoint::mul_base_clamped(secret).to_bytes(),
            secret,
        }
    }

    /// The secret key.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn dh(&self, remote: &[u8; 32]) -> Result<[u8; DHLEN], NoiseError> {
        let shared = MontgomeryPoint(*remote).mul_clamped(self.secret).to_bytes();
        if shared == [0; DHLEN] {
            return Err(NoiseError::WeakKey);
        }
        Ok(shared)
    }
}

impl fmt::Debug for NoiseKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseKeyPair")
            .field("public", &hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// What a finished handshake yields.
#[derive(Clone)]
pub struct HandshakeOutcome {
    /// Key for what I send (first 32 bytes of my side of the Noise split).
    pub tx: [u8; 32],
    /// Key for what I receive.
    pub rx: [u8; 32],
    /// The remote's static X25519 public key.
    pub remote_static: [u8; 32],
    /// The final Noise handshake hash (JS exposes it; v8 does not use it).
    pub handshake_hash: [u8; 64],
    /// The last non-empty payload the remote sent (JS keeps that one), if any.
    pub remote_payload: Option<Vec<u8>>,
}

impl fmt::Debug for HandshakeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeOutcome")
            .field("remote_static", &hex(&self.remote_static))
            .field("handshake_hash", &hex(&self.handshake_hash))
            .finish_non_exhaustive()
    }
}

/// The XX handshake of one side, sans-IO: [`Handshake::write_message`] and
/// [`Handshake::read_message`] in turn (the initiator writes first), three messages in all.
pub struct Handshake {
    initiator: bool,
    step: u8,
    sym: SymmetricState,
    s: NoiseKeyPair,
    e: NoiseKeyPair,
    re: Option<[u8; 32]>,
    rs: Option<[u8; 32]>,
    payload: Vec<u8>,
    remote_payload: Option<Vec<u8>>,
    split: Option<([u8; 32], [u8; 32])>,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("initiator", &self.initiator)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// A handshake with a fresh ephemeral key; `payload` goes into each message this side sends.
    pub fn new(initiator: bool, static_key: NoiseKeyPair, payload: Vec<u8>) -> Self {
        Self::with_ephemeral(initiator, static_key, NoiseKeyPair::generate(), payload)
    }

    /// A handshake with a given ephemeral key. Only for replaying recorded handshakes: reusing
    /// an ephemeral key across sessions breaks Noise's security.
    pub fn with_ephemeral(
        initiator: bool,
        static_key: NoiseKeyPair,
        ephemeral: NoiseKeyPair,
        payload: Vec<u8>,
    ) -> Self {
        let mut sym = SymmetricState::new();
        sym.mix_hash(&[]); // the empty prologue is still hashed in
        Handshake {
            initiator,
            step: 0,
            sym,
            s: static_key,
            e: ephemeral,
            re: None,
            rs: None,
            payload,
            remote_payload: None,
            split: None,
        }
    }

    /// Whether it is this side's turn to write.
    pub fn is_write_turn(&self) -> bool {
        self.split.is_none() && self.step.is_multiple_of(2) == self.initiator
    }

    /// Whether all three messages have been exchanged.
    pub fn is_finished(&self) -> bool {
        self.split.is_some()
    }

    /// This side's static public key.
    pub fn local_static(&self) -> &[u8; 32] {
        &self.s.public
    }

    /// The next message to send (without the varint length prefix the session adds).
    pub fn write_message(&mut self) -> Result<Vec<u8>, NoiseError> {
        if !self.is_write_turn() {
            return Err(NoiseError::OutOfOrder);
        }
        let mut out = Vec::new();
        let re = self.re.unwrap_or_default();
        match self.step {
            0 => {
                // -> e
                out.extend_from_slice(&self.e.public);
                self.sym.mix_hash(&self.e.public);
            }
            1 => {
                // <- e, ee, s, es
                out.extend_from_slice(&self.e.public);
                self.sym.mix_hash(&self.e.public);
                self.sym.mix_key(&self.e.dh(&re)?);
                out.extend(self.sym.encrypt_and_hash(&self.s.public));
                self.sym.mix_key(&self.s.dh(&re)?);
            }
            _ => {
                // -> s, se
                out.extend(self.sym.encrypt_and_hash(&self.s.public));
                self.sym.mix_key(&self.s.dh(&re)?);
            }
        }
        out.extend(self.sym.encrypt_and_hash(&self.payload));
        if out.len() > MAX_MESSAGE {
            return Err(NoiseError::TooLong);
        }
        self.advance();
        Ok(out)
    }

    /// Processes the remote's next message.
    pub fn read_message(&mut self, msg: &[u8]) -> Result<(), NoiseError> {
        if self.is_write_turn() || self.is_finished() {
            return Err(NoiseError::OutOfOrder);
        }
        if msg.len() > MAX_MESSAGE {
            return Err(NoiseError::TooLong);
        }
        let n = self.step + 1;
        let mut rest = msg;
        match self.step {
            0 => {
                let re = take_key(&mut rest, n)?;
                self.sym.mix_hash(&re);
                self.re = Some(re);
            }
            1 => {
                let re = take_key(&mut rest, n)?;
                self.sym.mix_hash(&re);
                self.re = Some(re);
                self.sym.mix_key(&self.e.dh(&re)?);
                let rs = self.read_static(&mut rest, n)?;
                self.sym.mix_key(&self.e.dh(&rs)?);
            }
            _ => {
                let rs = self.read_static(&mut rest, n)?;
                self.sym.mix_key(&self.e.dh(&rs)?);
            }
        }
        let payload = self
            .sym
            .decrypt_and_hash(rest)
            .ok_or(NoiseError::Decrypt(n))?;
        if !payload.is_empty() {
            self.remote_payload = Some(payload);
        }
        self.advance();
        Ok(())
    }

    /// The split keys and what was learned, once finished.
    pub fn outcome(&self) -> Option<HandshakeOutcome> {
        let (tx, rx) = self.split?;
        Some(HandshakeOutcome {
            tx,
            rx,
            remote_static: self.rs?,
            handshake_hash: self.sym.h,
            remote_payload: self.remote_payload.clone(),
        })
    }

    fn read_static(&mut self, rest: &mut &[u8], n: u8) -> Result<[u8; 32], NoiseError> {
        let len = DHLEN + if self.sym.k.is_some() { MACLEN } else { 0 };
        if rest.len() < len {
            return Err(NoiseError::TooShort(n));
        }
        let (head, tail) = rest.split_at(len);
        *rest = tail;
        let plain = self
            .sym
            .decrypt_and_hash(head)
            .ok_or(NoiseError::Decrypt(n))?;
        let mut rs = [0u8; 32];
        rs.copy_from_slice(&plain);
        self.rs = Some(rs);
        Ok(rs)
    }

    fn advance(&mut self) {
        self.step += 1;
        if self.step == 3 {
            let (k1, k2) = self.sym.split();
            // The initiator sends with the first key, the responder with the second.
            self.split = Some(if self.initiator { (k1, k2) } else { (k2, k1) });
        }
    }
}

fn take_key(rest: &mut &[u8], n: u8) -> Result<[u8; 32], NoiseError> {
    if rest.len() < DHLEN {
        return Err(NoiseError::TooShort(n));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&rest[..DHLEN]);
    *rest = &rest[DHLEN..];
    Ok(key)
}

/// Noise's SymmetricState with BLAKE2b-512 and ChaCha20-Poly1305.
struct SymmetricState {
    ck: [u8; HASHLEN],
    h: [u8; HASHLEN],
    k: Option<[u8; 32]>,
    n: u64,
}

impl SymmetricState {
    fn new() -> Self {
        // The name is shorter than HASHLEN, so h is the name zero-padded.
        let mut h = [0u8; HASHLEN];
        h[..PROTOCOL_NAME.len()].copy_from_slice(PROTOCOL_NAME);
        SymmetricState {
            ck: h,
            h,
            k: None,
            n: 0,
        }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = blake2b512(&[&self.h, data]);
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, temp_k) = hkdf(&self.ck, ikm);
        self.ck = ck;
        let mut k = [0u8; 32];
        k.copy_from_slice(&temp_k[..32]);
        self.k = Some(k);
        self.n = 0;
    }

    fn nonce(&self) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_le_bytes()); // 4 zero bytes ‖ u64le counter
        nonce.into()
    }

    fn encrypt_and_hash(&mut self, plain: &[u8]) -> Vec<u8> {
        let out = match &self.k {
            None => plain.to_vec(),
            Some(k) => {
                let aead = ChaCha20Poly1305::new(k.into());
                let sealed = aead.encrypt(
                    &self.nonce(),
                    Payload {
                        msg: plain,
                        aad: &self.h,
                    },
                );
                self.n += 1;
                // Encryption of an in-memory buffer of bounded size cannot fail.
                sealed.unwrap_or_default()
            }
        };
        self.mix_hash(&out);
        out
    }

    fn decrypt_and_hash(&mut self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = match &self.k {
            None => cipher.to_vec(),
            Some(k) => {
                let aead = ChaCha20Poly1305::new(k.into());
                let plain = aead.decrypt(
                    &self.nonce(),
                    Payload {
                        msg: cipher,
                        aad: &self.h,
                    },
                );
                self.n += 1;
                plain.ok()?
            }
        };
        self.mix_hash(cipher);
        Some(plain)
    }

    fn split(&self) -> ([u8; 32], [u8; 32]) {
        let (a, b) = hkdf(&self.ck, &[]);
        let mut k1 = [0u8; 32];
        let mut k2 = [0u8; 32];
        k1.copy_from_slice(&a[..32]);
        k2.copy_from_slice(&b[..32]);
        (k1, k2)
    }
}

fn blake2b512(parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut state = Params::new().hash_length(HASHLEN).to_state();
    for part in parts {
        state.update(part);
    }
    let mut out = [0u8; HASHLEN];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

/// HMAC (RFC 2104) over BLAKE2b-512; keys here are always 64 bytes, under the block size.
fn hmac(key: &[u8; HASHLEN], parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut ipad = [0x36u8; BLOCKLEN];
    let mut opad = [0x5cu8; BLOCKLEN];
    for (i, b) in key.iter().enumerate() {
        ipad[i] ^= b;
        opad[i] ^= b;
    }
    let mut inner_parts: Vec<&[u8]> = vec![&ipad];
    inner_parts.extend_from_slice(parts);
    let inner = blake2b512(&inner_parts);
    blake2b512(&[&opad, &inner])
}

/// Noise HKDF with two outputs.
fn hkdf(ck: &[u8; HASHLEN], ikm: &[u8]) -> ([u8; HASHLEN], [u8; HASHLEN]) {
    let temp = hmac(ck, &[ikm]);
    let out1 = hmac(&temp, &[&[0x01]]);
    let out2 = hmac(&temp, &[&out1, &[0x02]]);
    (out1, out2)
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS generator failing leaves no safe way to make a key; JS (libsodium) aborts too.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut out).expect("the operating system has no random source");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Handshake, Handshake) {
        let a = Handshake::new(true, NoiseKeyPair::generate(), b"init".to_vec());
        let b = Handshake::new(false, NoiseKeyPair::generate(), b"resp".to_vec());
        (a, b)
    }

    #[test]
    fn both_sides_agree() {
        let (mut a, mut b) = pair();
        let m1 = a.write_message().unwrap();
        b.read_message(&m1).unwrap();
        let m2 = b.write_message().unwrap();
        a.read_message(&m2).unwrap();
        let m3 = a.write_message().unwrap();
        b.read_message(&m3).unwrap();
        let (oa, ob) = (a.outcome().unwrap(), b.outcome().unwrap());
        assert_eq!(oa.tx, ob.rx);
        assert_eq!(oa.rx, ob.tx);
        assert_ne!(oa.tx, oa.rx);
        assert_eq!(oa.handshake_hash, ob.handshake_hash);
        assert_eq!(oa.remote_static, *b.local_static());
        assert_eq!(oa.remote_payload.as_deref(), Some(&b"resp"[..]));
        assert_eq!(ob.remote_payload.as_deref(), Some(&b"init"[..]));
    }

    #[test]
    fn tampering_is_detected() {
        let (mut a, mut b) = pair();
        let m1 = a.write_message().unwrap();
        b.read_message(&m1).unwrap();
        let mut m2 = b.write_message().unwrap();
        m2[40] ^= 1;
        assert_eq!(a.read_message(&m2), Err(NoiseError::Decrypt(2)));
        assert_eq!(a.write_message(), Err(NoiseError::OutOfOrder));
    }

    #[test]
    fn short_and_weak_messages() {
        let (_, mut b) = pair();
        assert_eq!(b.read_message(&[1; 31]), Err(NoiseError::TooShort(1)));
        let (mut a, mut b) = pair();
        b.read_message(&a.write_message().unwrap()).unwrap();
        // A responder ephemeral of all zeros is a low-order point.
        let mut m2 = b.write_message().unwrap();
        m2[..32].fill(0);
        assert_eq!(a.read_message(&m2), Err(NoiseError::WeakKey));
    }

    #[test]
    fn debug_hides_secrets() {
        let kp = NoiseKeyPair::from_secret([7; 32]);
        let shown = format!("{kp:?}");
        assert!(!shown.contains(&hex(&[7; 32])));
        assert!(shown.contains(&hex(&kp.public)));
    }
}
