//! A trie over a borrowed feed ([`Hypertrie::over`]) reads and writes the same blocks as one
//! that owns it, and its state carries the header from call to call.

use anyhow::Result;
use hypercore::{Feed, MemoryStorage};
use hypertrie::{Hypertrie, TrieState};

#[test]
fn borrowed_calls_see_what_owned_ones_wrote_and_write_the_same_blocks() -> Result<()> {
    let mut owned = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    owned.put("a/one", b"1")?;
    owned.put("a/two", b"2")?;
    let mut feed = owned.into_feed();

    let mut state = TrieState::default();
    assert!(state.header().is_none());
    {
        let mut trie = Hypertrie::over(&mut feed, state)?;
        assert_eq!(
            trie.get("a/two")?
                .and_then(|n| n.value().map(<[u8]>::to_vec)),
            Some(b"2".to_vec())
        );
        trie.put("b", b"3")?;
        state = trie.into_state();
    }
    assert!(
        state.header().is_some(),
        "the header is kept for the next call"
    );
    let version = feed.len();
    {
        let mut trie = Hypertrie::over(&mut feed, state)?;
        let mut keys: Vec<String> = trie.list("")?.iter().map(|n| n.key().to_owned()).collect();
        keys.sort();
        assert_eq!(keys, ["a/one", "a/two", "b"]);
        assert_eq!(trie.version(), version);
        assert!(trie.checkout(version - 1).get("b")?.is_none());
    }

    // The block written through the borrowed trie is the one an owned trie writes.
    let mut again = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    again.put("a/one", b"1")?;
    again.put("a/two", b"2")?;
    again.put("b", b"3")?;
    let mut other = again.into_feed();
    for i in 1..feed.len() {
        assert_eq!(feed.get(i)?, other.get(i)?, "block {i}");
    }
    Ok(())
}
