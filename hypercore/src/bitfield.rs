//! The `bitfield` file: 3584-byte pages split into data bits, tree bits and index summaries.
//!
//! This is a faithful port of hypercore 9's `lib/bitfield.js` on top of `sparse-bitfield` and
//! `memory-pager`, including their quirks (a page is allocated by any `set_byte`, even one that
//! changes nothing; the index summary only climbs while it stays inside the allocated pages), so
//! that the pages we flush are byte-identical to what Node writes (docs/formats.md §2.7).

mod pager;
mod view;

use crate::flat_tree;

pub(crate) use pager::Pager;
pub(crate) use view::View;

/// The page size every hypercore 9 writes; older files may carry another one in their header.
pub const DEFAULT_PAGE_SIZE: usize = 3584;
/// Bytes of data bits at the start of every page.
const DATA_BYTES: usize = 1024;
/// Bytes of tree bits after the data bits.
const TREE_BYTES: usize = 2048;

/// Masks that clear one bit (MSB first) of a data byte.
const DATA_UPDATE_MASK: [u8; 8] = [127, 191, 223, 239, 247, 251, 253, 254];
/// Masks that clear one 2-bit slot of an index leaf byte.
const INDEX_UPDATE_MASK: [u8; 4] = [63, 207, 243, 252];

/// The data, tree and index sub-bitfields sharing one set of pages.
#[derive(Debug)]
pub(crate) struct Bitfield {
    pub(crate) pager: Pager,
    pub(crate) data: View,
    pub(crate) tree: View,
    pub(crate) index: View,
}

impl Bitfield {
    /// Bitfield over pages read from disk (`pages[j]` is page `j`, possibly short at the end).
    pub(crate) fn new(page_size: usize, pages: Vec<Vec<u8>>) -> Self {
        let mut pager = Pager::new(page_size);
        for (i, page) in pages.into_iter().enumerate() {
            pager.load(i, page);
        }
        let index_size = page_size - DATA_BYTES - TREE_BYTES;
        let data = View::new(&pager, DATA_BYTES, 0);
        let tree = View::new(&pager, TREE_BYTES, DATA_BYTES);
        let index = View::new(&pager, index_size, DATA_BYTES + TREE_BYTES);
        Bitfield {
            pager,
            data,
            tree,
            index,
        }
    }

    /// Whether block `i` is stored locally.
    pub(crate) fn get(&self, i: u64) -> bool {
        self.data.get(&self.pager, i)
    }

    /// Sets or clears block `i`; returns whether anything changed.
    pub(crate) fn set(&mut self, i: u64, value: bool) -> bool {
        let o = (i & 7) as usize;
        let byte_index = i / 8;
        let old = self.data.get_byte(&self.pager, byte_index);
        let v = if value {
            old | (128 >> o)
        } else {
            old & DATA_UPDATE_MASK[o]
        };
        if !self.data.set_byte(&mut self.pager, byte_index, v) {
            return false;
        }
        self.set_index(byte_index, v);
        true
    }

    /// The data bits of blocks `[8 * first, 8 * (first + out.len()))`, wire order (block `8b` at
    /// bit `0x80` of byte `b`), copied a page at a time rather than probed block by block.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(crate) fn data_bytes(&self, first: u64, out: &mut [u8]) {
        self.data.copy_bytes(&self.pager, first, out);
    }

    /// Number of stored blocks in `[start, end)`.
    pub(crate) fn total(&self, start: u64, end: u64) -> u64 {
        if end <= start {
            return 0;
        }
        let mut total = 0u64;
        let mut i = start;
        while i < end {
            if i & 7 == 0 && i + 8 <= end {
                total += u64::from(self.data.get_byte(&self.pager, i / 8).count_ones());
                i += 8;
            } else {
                total += u64::from(self.get(i));
                i += 1;
            }
        }
        total
    }

    /// Tree-node bit `i`.
    pub(crate) fn tree_get(&self, i: u64) -> bool {
        self.tree.get(&self.pager, i)
    }

    /// Sets or clears tree-node bit `i`; returns whether it changed.
    pub(crate) fn tree_set(&mut self, i: u64, value: bool) -> bool {
        self.tree.set(&mut self.pager, i, value)
    }

    /// Length of the tree sub-bitfield in bits, as `sparse-bitfield` counts it.
    pub(crate) fn tree_len(&self) -> u64 {
        self.tree.bit_len()
    }

    /// Updates the index summary after data byte `i` became `value` (`_setIndex`).
    fn set_index(&mut self, i: u64, value: u8) {
        let o = (i & 3) as usize;
        let i = (i - o as u64) / 4;
        let start = 2 * i;
        let mut byte = (self.index.get_byte(&self.pager, start) & INDEX_UPDATE_MASK[o])
            | (index_value(value) >> (2 * o));
        let len = self.index.bit_len();
        let max_length = self.pager.len() as u64 * self.index.page_size() as u64;
        let mut ite = start;
        while ite < max_length && self.index.set_byte(&mut self.pager, ite, byte) {
            byte = self.parent_summary(ite, byte);
            ite = flat_tree::parent(ite);
        }
        if len != self.index.bit_len() {
            self.expand(len);
        }
    }

    /// Re-derives the parents above the roots of `len` index leaves (`_expand`).
    fn expand(&mut self, len: u64) {
        for root in flat_tree::full_roots(2 * len) {
            let mut ite = root;
            let mut byte = self.index.get_byte(&self.pager, ite);
            loop {
                byte = self.parent_summary(ite, byte);
                ite = flat_tree::parent(ite);
                // `setByteNoAlloc`: never grows the index past what is allocated.
                if 8 * ite >= self.index.bit_len()
                    || !self.index.set_byte(&mut self.pager, ite, byte)
                {
                    break;
                }
            }
        }
    }

    /// The summary byte of `node`'s parent, given `node`'s new summary and its sibling's.
    fn parent_summary(&self, node: u64, byte: u8) -> u8 {
        let sibling = self.index.get_byte(&self.pager, flat_tree::sibling(node));
        if flat_tree::is_left(node) {
            parent_left(byte) | parent_right(sibling)
        } else {
            parent_right(byte) | parent_left(sibling)
        }
    }

    /// Pages changed since the last call, as `(page number, page bytes)`.
    pub(crate) fn take_dirty(&mut self) -> Vec<(usize, &[u8])> {
        self.pager.take_dirty()
    }
}

/// The 2-bit code of a data byte in an index leaf, placed in the top two bits.
fn index_value(byte: u8) -> u8 {
    match byte {
        255 => 192,
        0 => 0,
        _ => 64,
    }
}

fn nibble_code(n: u8) -> u8 {
    match n {
        15 => 3,
        0 => 0,
        _ => 1,
    }
}

/// `MAP_PARENT_RIGHT`: a child's summary squeezed into the low nibble of its parent.
fn parent_right(b: u8) -> u8 {
    (nibble_code(b >> 4) << 2) | nibble_code(b & 15)
}

/// `MAP_PARENT_LEFT`: a child's summary squeezed into the high nibble of its parent.
fn parent_left(b: u8) -> u8 {
    parent_right(b) << 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_count() {
        let mut b = Bitfield::new(DEFAULT_PAGE_SIZE, Vec::new());
        assert!(!b.get(5));
        assert!(b.set(5, true));
        assert!(!b.set(5, true));
        assert!(b.get(5));
        for i in 0..20 {
            b.set(i, true);
        }
        assert_eq!(b.total(0, 20), 20);
        assert_eq!(b.total(3, 9), 6);
        b.set(7, false);
        assert_eq!(b.total(0, 20), 19);
        assert_eq!(b.take_dirty().len(), 1);
        assert!(b.take_dirty().is_empty());
    }

    #[test]
    fn data_bytes_copy_across_pages() {
        let mut b = Bitfield::new(DEFAULT_PAGE_SIZE, Vec::new());
        for i in [0u64, 9, 8191, 8192, 3 * 8192 + 5] {
            b.set(i, true);
        }
        let mut out = vec![0xaa; 4 * DATA_BYTES];
        b.data_bytes(0, &mut out);
        for i in 0..(8 * out.len() as u64) {
            let bit = out[(i / 8) as usize] & (0x80 >> (i & 7)) != 0;
            assert_eq!(bit, b.get(i), "block {i}");
        }
        let mut tail = [0xaa; 3];
        b.data_bytes(1023, &mut tail); // straddles pages 0 and 1
        assert_eq!(tail, [0x01, 0x80, 0]);
    }

    #[test]
    fn full_data_byte_summarises_as_ones() {
        let mut b = Bitfield::new(DEFAULT_PAGE_SIZE, Vec::new());
        for i in 0..32 {
            b.set(i, true);
        }
        // Four full data bytes: index leaf 0 is 0b11111111.
        assert_eq!(b.index.get_byte(&b.pager, 0), 0xff);
    }
}
