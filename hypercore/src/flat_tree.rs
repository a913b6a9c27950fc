//! In-order ("flat") binary tree numbering, as in the `flat-tree` npm module.
//!
//! Leaves are even indices (block `b` is node `2b`); a node at depth `d` with offset `o` has
//! index `(2o + 1) * 2^d - 1`. Every function here is pure index arithmetic on `u64`.

/// Index of the node at `depth` with `offset` among the nodes of that depth.
pub fn index(depth: u32, offset: u64) -> u64 {
    ((offset << 1) + 1) * (1u64 << depth) - 1
}

/// Depth of a node: the number of trailing one bits of its index (leaves are depth 0).
pub fn depth(i: u64) -> u32 {
    (!i).trailing_zeros()
}

/// Position of a node among the nodes of its depth.
pub fn offset(i: u64) -> u64 {
    if i & 1 == 0 {
        return i / 2;
    }
    let d = depth(i);
    ((i + 1) / (1u64 << d) - 1) / 2
}

/// The parent of a node.
pub fn parent(i: u64) -> u64 {
    let d = depth(i);
    index(d + 1, offset(i) >> 1)
}

/// The other child of this node's parent.
pub fn sibling(i: u64) -> u64 {
    let d = depth(i);
    index(d, offset(i) ^ 1)
}

/// The left child of a parent node, `None` for a leaf.
pub fn left_child(i: u64) -> Option<u64> {
    let d = depth(i);
    (d > 0).then(|| index(d - 1, offset(i) << 1))
}

/// The right child of a parent node, `None` for a leaf.
pub fn right_child(i: u64) -> Option<u64> {
    let d = depth(i);
    (d > 0).then(|| index(d - 1, (offset(i) << 1) + 1))
}

/// The leftmost leaf under a node.
pub fn left_span(i: u64) -> u64 {
    let d = depth(i);
    if d == 0 { i } else { offset(i) * (2u64 << d) }
}

/// The rightmost leaf under a node.
pub fn right_span(i: u64) -> u64 {
    let d = depth(i);
    if d == 0 {
        i
    } else {
        (offset(i) + 1) * (2u64 << d) - 2
    }
}

/// True when the node is the left child of its parent.
pub fn is_left(i: u64) -> bool {
    offset(i) & 1 == 0
}

/// The roots of the forest covering leaves `[0, index/2)`, in ascending index order.
///
/// `index` must be even (`2 * length`); an odd index is rounded down, as a length would be.
pub fn full_roots(index: u64) -> Vec<u64> {
    let mut roots = Vec::with_capacity(64);
    let mut tmp = index >> 1;
    let mut offset = 0u64;
    let mut factor = 1u64;
    loop {
        if tmp == 0 {
            return roots;
        }
        while factor * 2 <= tmp {
            factor *= 2;
        }
        roots.push(offset + factor - 1);
        offset += 2 * factor;
        tmp -= factor;
        factor = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_relations() {
        assert_eq!(index(0, 0), 0);
        assert_eq!(index(1, 0), 1);
        assert_eq!(index(1, 1), 5);
        assert_eq!(index(2, 0), 3);
        assert_eq!(parent(0), 1);
        assert_eq!(parent(2), 1);
        assert_eq!(parent(1), 3);
        assert_eq!(parent(5), 3);
        assert_eq!(sibling(0), 2);
        assert_eq!(sibling(1), 5);
        assert_eq!(sibling(9), 13);
        assert_eq!(left_child(3), Some(1));
        assert_eq!(right_child(3), Some(5));
        assert_eq!(left_child(4), None);
        assert_eq!(left_span(7), 0);
        assert_eq!(right_span(7), 14);
        assert_eq!(right_span(23), 30);
        assert_eq!(depth(7), 3);
        assert_eq!(offset(23), 1);
    }

    #[test]
    fn roots() {
        assert_eq!(full_roots(0), Vec::<u64>::new());
        assert_eq!(full_roots(2), vec![0]);
        assert_eq!(full_roots(14), vec![3, 9, 12]);
        assert_eq!(full_roots(40), vec![15, 35]);
    }
}
