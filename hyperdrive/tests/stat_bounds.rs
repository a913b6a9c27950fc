//! A Stat comes from a peer's trie node (up to a whole 8 MiB block); what it decodes into, and
//! the work to decode it, must stay proportional to what a real drive holds. Counted, not timed.

use hyperdrive::Stat;

/// Protobuf key of length-delimited field `n`.
fn bytes_key(field: u8) -> u8 {
    field << 3 | 2
}

/// A file Stat (mode 0o100644) with `count` metadata entries of distinct short keys.
fn stat_with_entries(count: usize) -> Vec<u8> {
    let mut body = vec![0x08, 0xa4, 0x83, 0x02];
    for i in 0..count {
        let key = format!("{i:x}");
        let entry_len = 2 + key.len();
        body.extend_from_slice(&[
            bytes_key(12),
            entry_len as u8,
            bytes_key(1),
            key.len() as u8,
        ]);
        body.extend_from_slice(key.as_bytes());
    }
    body
}

#[test]
fn a_stat_of_many_tiny_metadata_entries_decodes_into_few() {
    let body = stat_with_entries(30_000);
    if let Ok(stat) = Stat::decode(&body) {
        let entries = stat.metadata.iter().count();
        assert!(
            entries <= 4096,
            "{entries} metadata entries decoded from one Stat"
        );
    }
    // What a user could set by hand on a file still reads back.
    let stat = Stat::decode(&stat_with_entries(1000)).expect("1000 entries decode");
    assert_eq!(stat.metadata.iter().count(), 1000);
    assert_eq!(stat.metadata.get("3e7"), Some(None));
}

#[test]
fn a_repeated_metadata_key_keeps_its_place_and_last_value() {
    let mut body = vec![0x08, 0xa4, 0x83, 0x02];
    for (key, value) in [("a", b"1"), ("b", b"2"), ("a", b"3")] {
        body.extend_from_slice(&[bytes_key(12), 6, bytes_key(1), 1, key.as_bytes()[0]]);
        body.extend_from_slice(&[bytes_key(2), 1, value[0]]);
    }
    let stat = Stat::decode(&body).expect("a Stat decodes");
    let entries: Vec<_> = stat.metadata.iter().collect();
    assert_eq!(entries, [("a", Some(&b"3"[..])), ("b", Some(&b"2"[..]))]);
}

#[test]
fn set_metadata_stops_at_what_a_stat_may_hold() -> anyhow::Result<()> {
    use hyperdrive::{Drive, DriveOptions, Error, Metadata, WriteOptions};
    use std::sync::Arc;
    let store = Arc::new(corestore::Corestore::in_memory()?);
    let drive = Drive::create(store, DriveOptions::default())?;
    let mut full = Metadata::new();
    for i in 0..4096 {
        full.set(format!("k{i}"), Some(vec![1]));
    }
    let mut options = WriteOptions::default();
    options.metadata = full;
    drive.write_file("/f", b"data", &options)?;
    assert!(matches!(
        drive.set_metadata("/f", "one-more", b"x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        drive.remove_metadata("/f", "one-more"),
        Err(Error::InvalidArgument(_))
    ));
    // A key it holds can still change, and the file still reads back.
    drive.set_metadata("/f", "k7", b"changed")?;
    let stat = drive.stat("/f")?;
    assert_eq!(stat.metadata.iter().count(), 4096);
    assert_eq!(stat.metadata.get("k7"), Some(Some(&b"changed"[..])));
    Ok(())
}
