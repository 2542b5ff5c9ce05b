//! Where every candidate's seed comes from, for the render worker, the engines
//! and the judge alike: the first attempt of a style starts from a seed derived
//! from the preview and the style (a re-run reproduces it), variation `i` of an
//! attempt renders with `base + i`, and a retry starts from a base the judge
//! derives from the last one, so no retry repeats an earlier candidate.

use crate::ids::{PreviewId, StyleId};

/// The first attempt's base seed: FNV-1a over the ids (48 bits), so the same
/// order renders the same candidates wherever it runs.
pub fn first(id: &PreviewId, style: &StyleId) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in id.as_str().bytes().chain([0]).chain(style.as_str().bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash >> 16
}

/// The seed of variation `index` (0-based) of an attempt with base seed `base`.
pub fn variation(base: u64, index: u32) -> u64 {
    base.wrapping_add(u64::from(index))
}

/// The base seed of the attempt after `attempt`, whose base seed was `base`
/// (SplitMix64: far from every earlier variation's seed). Seeds stay below
/// 2^53 so that every JSON reader keeps them exact.
pub fn next(base: u64, attempt: u32) -> u64 {
    let mut z = base ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_reproducible_and_retries_leave_earlier_variations_behind() {
        let id = PreviewId::new("pv_0194a6c3e1f27b3e9a4f5d6c7b8a9f01");
        let style = StyleId::new("oil");
        let base = first(&id, &style);
        assert_eq!(base, first(&id, &style));
        assert_ne!(base, first(&id, &StyleId::new("watercolor")));
        let earlier: Vec<u64> = (0..8).map(|i| variation(base, i)).collect();
        let retry = next(base, 1);
        assert!((0..8).all(|i| !earlier.contains(&variation(retry, i))));
        assert_ne!(next(retry, 2), base);
        assert!(retry < 1 << 53 && base < 1 << 53, "JSON keeps them exact");
    }
}
