//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test.
//! Not part of the API.

/// A core's `name` file as the disk holds it: whatever name it yields writes back to the same
/// file when its length varint is minimal.
pub fn name_file(data: &[u8]) {
    if let Some(name) = crate::name_file::decode(data) {
        let again = crate::name_file::encode(name);
        assert_eq!(crate::name_file::decode(&again), Some(name));
    }
}
