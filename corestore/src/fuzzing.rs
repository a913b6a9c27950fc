//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test.
//! Not part of the API.

/// A core's `name` file as the disk holds it: whatever non-empty name it yields writes a file
/// that reads back as that name. (An empty name writes a one-byte file, which
/// derived-key-storage reads as no name at all, and so do we.)
pub fn name_file(data: &[u8]) {
    if let Some(name) = crate::name_file::decode(data).filter(|n| !n.is_empty()) {
        let again = crate::name_file::encode(name);
        assert_eq!(crate::name_file::decode(&again), Some(name));
    }
}
