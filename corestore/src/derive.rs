//! Name → key pair, as `derive-key@1` and corestore 5 compute it (docs/formats.md §6.2).

use blake2b_simd::Params;
use hypercore::KeyPair;

use crate::master_key::MasterKey;

/// The namespace corestore 5 passes to `derive-key` for every core.
pub const CORESTORE_NAMESPACE: &str = "corestore";

/// `derive-key`: BLAKE2b-256 keyed with `master_key` over
/// `ascii(decimal(len(namespace)) + "\n" + namespace) || input`.
///
/// The length is the namespace's byte count written in decimal, so `"corestore"` becomes the
/// prefix `"9\ncorestore"`; there is no separator between that prefix and `input`.
pub fn derive_seed(namespace: &str, master_key: &MasterKey, input: &[u8]) -> [u8; 32] {
    let prefix = format!("{}\n{}", namespace.len(), namespace);
    let hash = Params::new()
        .hash_length(32)
        .key(master_key.as_bytes())
        .to_state()
        .update(prefix.as_bytes())
        .update(input)
        .finalize();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(hash.as_bytes());
    seed
}

/// The Ed25519 key pair corestore 5 gives the core called `name`: the seed key pair of
/// [`derive_seed`] in the `"corestore"` namespace.
pub fn derive_key_pair(master_key: &MasterKey, name: &[u8]) -> KeyPair {
    KeyPair::from_seed(&derive_seed(CORESTORE_NAMESPACE, master_key, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_check_value() {
        let master = MasterKey::from_bytes([0x42; 32]);
        assert_eq!(
            hex::encode(derive_seed(CORESTORE_NAMESPACE, &master, b"default")),
            "e420dba4787c4cbe59d9b153e9f1f841a7a59426765a7cf1f6a4327b9cdd93c5"
        );
    }

    #[test]
    fn namespace_length_is_decimal() {
        // A 10-byte namespace must hash the two digits "10", not one length byte.
        let master = MasterKey::from_bytes([7; 32]);
        let expected = Params::new()
            .hash_length(32)
            .key(&[7; 32])
            .hash(b"10\nabcdefghijname");
        assert_eq!(
            derive_seed("abcdefghij", &master, b"name"),
            expected.as_bytes()
        );
    }
}
