//! Fixed-size pages, allocated on first write (`memory-pager`).
//!
//! Pages live in a map rather than a vector indexed by page number: a block index comes from a
//! length the feed's author signed (up to 2^52), and one bit set that far out must cost one
//! page, not a vector as long as its page number.

use std::collections::{BTreeMap, BTreeSet};

/// Pages of one bitfield file; a page absent from the map was never allocated (all zero).
#[derive(Debug)]
pub(crate) struct Pager {
    page_size: usize,
    pages: BTreeMap<usize, Box<[u8]>>,
    /// One past the highest page ever touched, as `memory-pager` counts `length`.
    len: usize,
    dirty: BTreeSet<usize>,
}

impl Pager {
    pub(crate) fn new(page_size: usize) -> Self {
        Pager {
            page_size,
            pages: BTreeMap::new(),
            len: 0,
            dirty: BTreeSet::new(),
        }
    }

    /// Number of pages, counting the highest one ever touched (`pager.length`).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// Pages allocated (held in memory), for bounds checks.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.pages.len()
    }

    /// Numbers of the allocated pages, ascending.
    pub(crate) fn allocated_pages(&self) -> impl Iterator<Item = usize> + '_ {
        self.pages.keys().copied()
    }

    /// Installs a page read from disk; an all-zero page stays unallocated, as in JS.
    pub(crate) fn load(&mut self, i: usize, mut buf: Vec<u8>) {
        self.touch(i);
        buf.resize(self.page_size, 0);
        if buf.iter().all(|b| *b == 0) {
            self.pages.remove(&i);
        } else {
            self.pages.insert(i, buf.into_boxed_slice());
        }
    }

    /// The page, if allocated.
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        self.pages.get(&i).map(|p| &**p)
    }

    /// The page, allocating it (and counting it in `len`) if needed.
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut [u8] {
        self.touch(i);
        let size = self.page_size;
        self.pages
            .entry(i)
            .or_insert_with(|| vec![0u8; size].into_boxed_slice())
    }

    pub(crate) fn mark_dirty(&mut self, i: usize) {
        self.dirty.insert(i);
    }

    /// Whether a page changed since the last [`take_dirty`](Self::take_dirty).
    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Changed pages since the last call, each with its bytes, ascending.
    pub(crate) fn take_dirty(&mut self) -> Vec<(usize, &[u8])> {
        let list = std::mem::take(&mut self.dirty);
        list.into_iter()
            .filter_map(|i| self.pages.get(&i).map(|p| (i, &**p)))
            .collect()
    }

    fn touch(&mut self, i: usize) {
        self.len = self.len.max(i.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use crate::bitfield::{Bitfield, DEFAULT_PAGE_SIZE};

    #[test]
    fn a_bit_near_the_largest_signed_length_holds_one_page() {
        let mut bitfield = Bitfield::new(DEFAULT_PAGE_SIZE, Vec::new());
        let far = (1u64 << 52) - 1;
        assert!(bitfield.set(far, true));
        assert!(bitfield.get(far));
        crate::tree::index::Bits::set_node(&mut bitfield, 2 * far);
        // The data bit, the index summaries above it and the tree bit: at most a page per
        // level of the index tree, not a vector of 2^39 pages.
        assert!(
            bitfield.pager.allocated() <= 64,
            "{} pages",
            bitfield.pager.allocated()
        );
        assert_eq!(bitfield.pager.len(), (2 * far / (8 * 2048)) as usize + 1);
    }
}
