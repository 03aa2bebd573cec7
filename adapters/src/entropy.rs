//! Seeds for the machine's randomness, drawn from the operating system.
//!
//! Invariant: a connection made without an explicit seed gets one no other connection in this
//! or any other process is likely to share, so no two clients draw the same inbox prefix,
//! request tokens or reconnect jitter. An explicit seed is used as given.
//!
//! The source is the standard library's hasher keys: `RandomState` keys each thread from the
//! operating system's entropy once and steps them for every new instance, so every call here
//! hashes with fresh keys. That is 64 unpredictable bits per client without a dependency; the
//! seed only has to be distinct, not secret (inboxes are not a security boundary).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use nats_sansio::connection::Options;

/// A seed from the operating system's entropy, different on every call.
pub(crate) fn os_seed() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    // The counter keeps two calls apart even if the keys were ever reused.
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Gives `options` a seed from the operating system unless the user set one.
pub(crate) fn fill_seed(options: &mut Options) {
    if options.seed.is_none() {
        options.seed = Some(os_seed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_between_calls_and_threads() {
        let mut seeds: Vec<u64> = (0..1000).map(|_| os_seed()).collect();
        seeds.extend(
            (0..8)
                .map(|_| std::thread::spawn(os_seed))
                .map(|t| t.join().unwrap()),
        );
        let n = seeds.len();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), n, "two calls drew the same seed");
    }

    #[test]
    fn an_explicit_seed_is_kept() {
        let mut options = Options::default();
        options.seed = Some(42);
        fill_seed(&mut options);
        assert_eq!(options.seed, Some(42));
        let mut options = Options::default();
        fill_seed(&mut options);
        assert!(options.seed.is_some());
    }
}
