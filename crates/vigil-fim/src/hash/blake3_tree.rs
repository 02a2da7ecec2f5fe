//! BLAKE3 kept per 1 MiB leaf, for trees with `localised_rehash`: BLAKE3
//! is a tree hash, so the digest of the whole file can be rebuilt from the
//! chaining values of its leaves. A write inside a large file then costs
//! the leaves it touched and a few thousand 64-byte merges, and the digest
//! is still the standard one (`b3sum` gives the same).

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

/// Bytes per leaf: 1024 BLAKE3 chunks, a whole subtree. The kernel's
/// write merging uses the same size (`VIGIL_FIM_LEAF_SHIFT`).
pub const LEAF: u64 = 1 << vigil_abi::FIM_LEAF_SHIFT;

/// The leaf holding byte `offset`.
pub fn leaf_of(offset: u64) -> u64 {
    offset >> vigil_abi::FIM_LEAF_SHIFT
}

/// Number of leaves of a file of `len` bytes.
pub fn leaves_for(len: u64) -> usize {
    len.div_ceil(LEAF) as usize
}

/// The chaining value of leaf `index`, whose bytes are `data`.
pub fn leaf_cv(index: u64, data: &[u8]) -> ChainingValue {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(index * LEAF);
    h.update(data);
    h.finalize_non_root()
}

/// The root digest of a file of `len` bytes (more than one leaf) whose
/// leaves are `leaves`.
pub fn root(leaves: &[ChainingValue], len: u64) -> [u8; 32] {
    fn subtree(leaves: &[ChainingValue], start: u64, len: u64) -> ChainingValue {
        if len <= LEAF {
            return leaves[leaf_of(start) as usize];
        }
        // Leaves are whole power-of-two subtrees: every split lands on one.
        let left = left_subtree_len(len);
        merge_subtrees_non_root(
            &subtree(leaves, start, left),
            &subtree(leaves, start + left, len - left),
            Mode::Hash,
        )
    }
    debug_assert!(len > LEAF && leaves.len() == leaves_for(len));
    let left = left_subtree_len(len);
    *merge_subtrees_root(
        &subtree(leaves, 0, left),
        &subtree(leaves, left, len - left),
        Mode::Hash,
    )
    .as_bytes()
}

/// BLAKE3 of a stream, keeping each leaf's chaining value.
pub struct LeafHasher {
    /// The current leaf; leaf 0's is a plain hasher, which can still
    /// finish as the root if the file turns out to be one leaf.
    current: blake3::Hasher,
    in_leaf: u64,
    index: u64,
    leaves: Vec<ChainingValue>,
}

impl Default for LeafHasher {
    fn default() -> Self {
        Self {
            current: blake3::Hasher::new(),
            in_leaf: 0,
            index: 0,
            leaves: Vec::new(),
        }
    }
}

impl LeafHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.in_leaf == LEAF {
                self.leaves.push(self.current.finalize_non_root());
                self.index += 1;
                self.current = blake3::Hasher::new();
                self.current.set_input_offset(self.index * LEAF);
                self.in_leaf = 0;
            }
            let take = ((LEAF - self.in_leaf) as usize).min(data.len());
            self.current.update(&data[..take]);
            self.in_leaf += take as u64;
            data = &data[take..];
        }
    }

    /// The digest, and the leaves when there is more than one.
    pub fn finish(mut self) -> ([u8; 32], Option<Vec<ChainingValue>>) {
        if self.index == 0 {
            return (*self.current.finalize().as_bytes(), None);
        }
        let len = self.index * LEAF + self.in_leaf;
        self.leaves.push(self.current.finalize_non_root());
        (root(&self.leaves, len), Some(self.leaves))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u32).wrapping_mul(2654435761) as u8)
            .collect()
    }

    #[test]
    fn the_leaf_tree_gives_the_standard_digest() {
        let l = LEAF as usize;
        for n in [0, 1, l - 1, l, l + 1, 2 * l, 3 * l - 7, 4 * l, 5 * l + 1024] {
            let d = data(n);
            let mut h = LeafHasher::default();
            for piece in d.chunks(300_007) {
                h.update(piece);
            }
            let (digest, leaves) = h.finish();
            assert_eq!(digest, *blake3::hash(&d).as_bytes(), "length {n}");
            assert_eq!(
                leaves.map(|v| v.len()),
                (n > l).then(|| leaves_for(n as u64))
            );
        }
    }

    #[test]
    fn one_leaf_rehashed_rebuilds_the_digest() {
        let l = LEAF as usize;
        let mut d = data(5 * l + 4321);
        let mut h = LeafHasher::default();
        h.update(&d);
        let (_, leaves) = h.finish();
        let mut leaves = leaves.unwrap();
        d[3 * l + 17] ^= 0xff;
        leaves[3] = leaf_cv(3, &d[3 * l..4 * l]);
        assert_eq!(root(&leaves, d.len() as u64), *blake3::hash(&d).as_bytes());
    }
}
