//! Maps and sets keyed by ids the client hands out itself: sids, request and flush ids.
//!
//! Invariant: the hasher is fixed (no random state), so iteration order depends only on the
//! operations performed, which keeps runs reproducible from their seed, and a lookup costs
//! a multiply instead of SipHash. The keys are ids we chose, so there is nothing for a peer
//! to collide; do not key these maps by anything a peer controls.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// A `HashMap` keyed by the client's own ids, with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A `HashSet` of the client's own ids, with [`IdHasher`].
pub type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a `u64` id; other inputs are folded in byte by byte.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
