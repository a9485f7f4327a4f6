//! Segment trees over a flat array: [`SumTree`] for proportional sampling and [`MinTree`] for
//! the smallest priority (the largest importance weight).
//!
//! Layout: `leaves = capacity.next_power_of_two()`; node 1 is the root, node `k` has children
//! `2k` and `2k+1`, and leaf `i` is node `leaves + i`. Node 0 is unused. Leaves past `capacity`
//! hold the identity (0 for sums, +∞ for minima) forever. Updates recompute each ancestor from
//! its two children rather than adding a delta, so rounding error does not accumulate with the
//! number of updates.

/// Sum segment tree: O(log n) leaf update, O(1) total, O(log n) prefix-sum search.
#[derive(Clone, Debug)]
pub struct SumTree {
    nodes: Vec<f64>,
    leaves: usize,
    capacity: usize,
}

impl SumTree {
    /// A tree of `capacity` zero leaves (`capacity` ≥ 1; 0 is treated as 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let leaves = capacity.next_power_of_two();
        Self {
            nodes: vec![0.0; 2 * leaves],
            leaves,
            capacity,
        }
    }

    /// Number of usable leaves.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sum of all leaves.
    pub fn total(&self) -> f64 {
        self.nodes[1]
    }

    /// Value of leaf `i` (0 past the capacity).
    pub fn get(&self, i: usize) -> f64 {
        if i < self.capacity {
            self.nodes[self.leaves + i]
        } else {
            0.0
        }
    }

    /// Sets leaf `i` to `value` (expected finite and ≥ 0) and refreshes its ancestors; ignores
    /// `i ≥ capacity`.
    pub fn set(&mut self, i: usize, value: f64) {
        if i >= self.capacity {
            return;
        }
        let mut node = self.leaves + i;
        self.nodes[node] = value;
        while node > 1 {
            node /= 2;
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1];
        }
    }

    /// The leaf `i` whose cumulative interval `[Σ_{j<i} v_j, Σ_{j≤i} v_j)` contains `mass`.
    ///
    /// Robust to floating-point drift at the boundary: a `mass` at or past the total (or one that
    /// drifts past a left subtree's sum on the way down) never descends into a subtree whose
    /// sum is zero, so the result is a leaf with a positive value whenever `total() > 0`.
    /// Negative or NaN `mass` is treated as 0.
    pub fn find_prefix(&self, mass: f64) -> usize {
        let mut mass = if mass > 0.0 { mass } else { 0.0 };
        let mut node = 1;
        while node < self.leaves {
            let left = self.nodes[2 * node];
            let right = self.nodes[2 * node + 1];
            if (mass < left && left > 0.0) || right <= 0.0 {
                node *= 2;
            } else {
                mass -= left;
                node = 2 * node + 1;
            }
        }
        (node - self.leaves).min(self.capacity - 1)
    }
}

/// Min segment tree: O(log n) leaf update, O(1) minimum. Unset leaves hold +∞.
#[derive(Clone, Debug)]
pub struct MinTree {
    nodes: Vec<f64>,
    leaves: usize,
    capacity: usize,
}

impl MinTree {
    /// A tree of `capacity` leaves set to +∞ (`capacity` ≥ 1; 0 is treated as 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let leaves = capacity.next_power_of_two();
        Self {
            nodes: vec![f64::INFINITY; 2 * leaves],
            leaves,
            capacity,
        }
    }

    /// Smallest leaf (+∞ when none is set).
    pub fn min(&self) -> f64 {
        self.nodes[1]
    }

    /// Value of leaf `i` (+∞ past the capacity).
    pub fn get(&self, i: usize) -> f64 {
        if i < self.capacity {
            self.nodes[self.leaves + i]
        } else {
            f64::INFINITY
        }
    }

    /// Sets leaf `i` and refreshes its ancestors; ignores `i ≥ capacity`.
    pub fn set(&mut self, i: usize, value: f64) {
        if i >= self.capacity {
            return;
        }
        let mut node = self.leaves + i;
        self.nodes[node] = value;
        while node > 1 {
            node /= 2;
            self.nodes[node] = self.nodes[2 * node].min(self.nodes[2 * node + 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_testkit::{Tol, isclose};
    use proptest::prelude::*;

    #[test]
    fn total_and_search_on_small_tree() {
        let mut t = SumTree::new(5);
        for (i, v) in [1.0, 2.0, 0.0, 3.0, 4.0].into_iter().enumerate() {
            t.set(i, v);
        }
        assert!(isclose(t.total(), 10.0, Tol::F64));
        assert_eq!(t.find_prefix(0.0), 0);
        assert_eq!(t.find_prefix(0.999), 0);
        assert_eq!(t.find_prefix(1.0), 1);
        assert_eq!(t.find_prefix(2.999), 1);
        // Leaf 2 is zero: mass 3.0 lands on leaf 3.
        assert_eq!(t.find_prefix(3.0), 3);
        assert_eq!(t.find_prefix(6.0), 4);
        assert_eq!(t.find_prefix(9.999), 4);
    }

    #[test]
    fn boundary_drift_never_reaches_unfilled_leaf() {
        // 5 filled leaves in an 8-leaf tree; 0.1 does not sum exactly in binary.
        let mut t = SumTree::new(8);
        for i in 0..5 {
            t.set(i, 0.1);
        }
        let total = t.total();
        for mass in [
            total,
            total * (1.0 + 1e-12),
            total + 1.0,
            f64::INFINITY,
            f64::MAX,
            total - f64::EPSILON,
            -1.0,
            f64::NAN,
        ] {
            let i = t.find_prefix(mass);
            assert!(i < 5, "mass {mass} -> unfilled leaf {i}");
            assert!(t.get(i) > 0.0);
        }
    }

    #[test]
    fn capacity_one() {
        let mut t = SumTree::new(1);
        t.set(0, 0.5);
        assert_eq!(t.find_prefix(0.7), 0);
        let mut m = MinTree::new(1);
        m.set(0, 0.5);
        assert!(isclose(m.min(), 0.5, Tol::F64));
    }

    #[test]
    fn out_of_range_set_is_ignored() {
        let mut t = SumTree::new(3);
        t.set(3, 7.0);
        t.set(100, 7.0);
        assert!(isclose(t.total(), 0.0, Tol::F64));
        let mut m = MinTree::new(3);
        m.set(3, 1.0);
        assert!(m.min().is_infinite());
    }

    proptest! {
        /// The root equals the naive sum and min after random updates, and the prefix search
        /// agrees with a linear scan.
        #[test]
        fn matches_naive_after_random_updates(
            capacity in 1usize..70,
            updates in proptest::collection::vec((0usize..70, 0.0f64..100.0), 1..300),
            probes in proptest::collection::vec(0.0f64..1.0, 1..20),
        ) {
            let mut sum = SumTree::new(capacity);
            let mut min = MinTree::new(capacity);
            let mut naive = vec![0.0f64; capacity];
            let mut set = vec![false; capacity];
            for (i, v) in updates {
                let i = i % capacity;
                sum.set(i, v);
                min.set(i, v);
                naive[i] = v;
                set[i] = true;
            }
            let naive_total: f64 = naive.iter().sum();
            prop_assert!(isclose(sum.total(), naive_total, Tol::new(1e-9, 1e-12)));
            let naive_min = naive
                .iter()
                .zip(&set)
                .filter(|(_, s)| **s)
                .map(|(v, _)| *v)
                .fold(f64::INFINITY, f64::min);
            prop_assert!(isclose(min.min(), naive_min, Tol::F64));
            if naive_total > 0.0 {
                for u in probes {
                    let mass = u * naive_total;
                    let i = sum.find_prefix(mass);
                    prop_assert!(i < capacity);
                    prop_assert!(naive[i] > 0.0, "picked zero leaf {i}");
                    let before: f64 = naive[..i].iter().sum();
                    let tol = 1e-9 * naive_total;
                    prop_assert!(before <= mass + tol && mass < before + naive[i] + tol,
                        "mass {mass} not in [{before}, {})", before + naive[i]);
                }
            }
        }
    }
}
