//! SHA-256 that can stop and resume. The digest is the standard one; what
//! it adds is the state after the last whole 64-byte block (the midstate:
//! 32 bytes, and the length it covers), which the baseline keeps so an
//! append costs the new bytes only.

use sha2::digest::generic_array::{typenum::U64, GenericArray};

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const BLOCK: usize = 64;

/// The state after `covered` bytes (a multiple of 64) of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Midstate {
    pub state: [u32; 8],
    pub covered: u64,
}

impl Midstate {
    pub const BYTES: usize = 40;

    /// As the baseline stores it: the state words, then the length, big-endian.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::BYTES);
        for w in self.state {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(&self.covered.to_be_bytes());
        v
    }

    /// `None` for anything but what `to_bytes` wrote.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::BYTES {
            return None;
        }
        let mut state = [0u32; 8];
        for (i, w) in state.iter_mut().enumerate() {
            *w = u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().ok()?);
        }
        let covered = u64::from_be_bytes(b[32..40].try_into().ok()?);
        (covered % BLOCK as u64 == 0).then_some(Self { state, covered })
    }
}

/// A streaming SHA-256 (the same compression function `sha2` uses, with
/// its CPU extensions) whose midstate can be taken and resumed from.
#[derive(Clone)]
pub struct Sha256Stream {
    state: [u32; 8],
    /// Bytes compressed so far.
    compressed: u64,
    tail: [u8; BLOCK],
    tail_len: usize,
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Self::resume(Midstate {
            state: H0,
            covered: 0,
        })
    }
}

fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % BLOCK, 0);
    // SAFETY: GenericArray<u8, U64> is a transparent [u8; 64] (alignment
    // 1), and `blocks` holds exactly len / 64 of them.
    let blocks: &[GenericArray<u8, U64>] =
        unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast(), blocks.len() / BLOCK) };
    sha2::compress256(state, blocks);
}

impl Sha256Stream {
    /// Continues a digest whose first `m.covered` bytes are already in `m`.
    pub fn resume(m: Midstate) -> Self {
        Self {
            state: m.state,
            compressed: m.covered,
            tail: [0; BLOCK],
            tail_len: 0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if self.tail_len > 0 {
            let take = (BLOCK - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < BLOCK {
                return;
            }
            compress(&mut self.state, &self.tail);
            self.compressed += BLOCK as u64;
            self.tail_len = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        if whole > 0 {
            compress(&mut self.state, &data[..whole]);
            self.compressed += whole as u64;
        }
        let rest = &data[whole..];
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The state after every whole block so far (the tail is read again
    /// on resume).
    pub fn midstate(&self) -> Midstate {
        Midstate {
            state: self.state,
            covered: self.compressed,
        }
    }

    pub fn finalize(&self) -> [u8; 32] {
        let mut state = self.state;
        let bits = (self.compressed + self.tail_len as u64).wrapping_mul(8);
        let mut last = [0u8; 2 * BLOCK];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        last[self.tail_len] = 0x80;
        let n = if self.tail_len + 1 + 8 <= BLOCK {
            BLOCK
        } else {
            2 * BLOCK
        };
        last[n - 8..n].copy_from_slice(&bits.to_be_bytes());
        compress(&mut state, &last[..n]);
        let mut out = [0u8; 32];
        for (i, w) in state.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    #[test]
    fn the_digest_is_sha256_at_every_length_and_split() {
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4096 + 17] {
            let d = data(n);
            let want: [u8; 32] = sha2::Sha256::digest(&d).into();
            for split in [0, 1.min(n), n / 3, n.saturating_sub(1), n] {
                let mut s = Sha256Stream::default();
                s.update(&d[..split]);
                s.update(&d[split..]);
                assert_eq!(s.finalize(), want, "length {n}, split {split}");
            }
        }
    }

    #[test]
    fn a_resumed_digest_equals_the_whole_one() {
        let d = data(10_000);
        let mut first = Sha256Stream::default();
        first.update(&d[..4321]);
        let m = Midstate::from_bytes(&first.midstate().to_bytes()).unwrap();
        assert_eq!(m.covered, 4288, "whole blocks only");
        let mut resumed = Sha256Stream::resume(m);
        resumed.update(&d[m.covered as usize..]);
        assert_eq!(
            resumed.finalize(),
            <[u8; 32]>::from(sha2::Sha256::digest(&d))
        );
        assert!(Midstate::from_bytes(&[0; 39]).is_none());
        let mut odd = m.to_bytes();
        odd[39] = 1;
        assert!(Midstate::from_bytes(&odd).is_none(), "not a whole block");
    }
}
