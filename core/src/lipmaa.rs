//! Bamboo skiplinks ("lipmaa links").

/// The seq num the skiplink of entry `n` points at (`n >= 1`; `lipmaa(1) = 0`).
///
/// With `T(j) = (3^j - 1) / 2`: if `n = T(k)` the link goes back `3^(k-1)`,
/// otherwise it goes back to the start of the smallest "tree" that `n` ends.
/// 128-bit arithmetic keeps this exact up to `u64::MAX`.
pub fn lipmaa(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let n128 = u128::from(n);
    // Smallest k >= 1 with T(k) >= n, tracking 3^(k-1) alongside.
    let mut k = 1u32;
    let mut pow = 1u128; // 3^(k-1)
    let t = |pow3k: u128| (pow3k - 1) / 2; // T(k) given 3^k
    while t(pow * 3) < n128 {
        pow *= 3;
        k += 1;
    }
    if t(pow * 3) == n128 {
        return (n128 - pow) as u64;
    }
    let mut u = n128;
    let mut pj = pow; // 3^j for j = k-1
    for _ in (1..k).rev() {
        let tj = t(pj);
        u %= tj;
        if u == 0 {
            return (n128 - tj) as u64;
        }
        pj /= 3;
    }
    // Unreachable for n >= 1 (T(1) = 1 divides everything); stay total anyway.
    n - 1
}

/// Whether entry `n` (> 1) carries a skiplink distinct from its backlink.
pub fn skiplink_required(n: u64) -> bool {
    n > 1 && lipmaa(n) != n - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_values() {
        let table = [
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 1),
            (5, 4),
            (8, 4),
            (12, 8),
            (13, 4),
            (14, 13),
            (17, 13),
            (21, 17),
            (25, 21),
            (26, 13),
            (30, 26),
            (34, 30),
            (38, 34),
            (39, 26),
            (40, 13),
            (121, 40),
            (364, 121),
        ];
        for (n, l) in table {
            assert_eq!(lipmaa(n), l, "lipmaa({n})");
        }
        let required: Vec<u64> = (1..=40).filter(|n| skiplink_required(*n)).collect();
        assert_eq!(
            required,
            vec![4, 8, 12, 13, 17, 21, 25, 26, 30, 34, 38, 39, 40]
        );
    }

    #[test]
    fn total_near_max() {
        for n in [u64::MAX, u64::MAX - 1, u64::MAX / 3] {
            assert!(lipmaa(n) < n);
        }
    }
}
