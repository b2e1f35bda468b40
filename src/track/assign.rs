//! Optimal one-to-one assignment with a cost limit (tracks ↔ detections).
//!
//! In: a `rows × cols` cost matrix (row-major; `f64::INFINITY` or any cost ≥ the limit marks a
//! pair that may not be matched) and the limit. Out: the matched `(row, col)` pairs, each row
//! and each column at most once, minimising the total cost of the matched pairs plus
//! `limit / 2` for every row and every column left unmatched — so a pair is matched exactly
//! when matching it pays, and no greedy choice can block a better overall match.
//!
//! This is the formulation `lap.lapjv(cost, extend_cost=True, cost_limit=…)` gives ByteTrack,
//! solved here by the Hungarian method (Kuhn 1955, Munkres 1957) with potentials, O(n³) on the
//! `(rows + cols)²` matrix extended by "unmatched" dummies. The problem first splits into the
//! connected components of its feasible pairs (rows and columns that share no feasible pair
//! cannot affect each other's matching), which keeps a stadium crowd of 200 faces — each with a
//! handful of neighbours in reach — as cheap as a few small problems.

/// Minimum-cost assignment; see the module docs. Returns pairs sorted by row.
///
/// # Panics
/// When `costs.len() != rows * cols` (a programming error).
pub fn assign(costs: &[f64], rows: usize, cols: usize, limit: f64) -> Vec<(usize, usize)> {
    assert_eq!(costs.len(), rows * cols, "cost matrix is not rows × cols");
    if rows == 0 || cols == 0 || limit.is_nan() || limit <= 0.0 {
        return Vec::new();
    }
    let feasible = |c: f64| c.is_finite() && c < limit;
    let mut pairs = Vec::new();
    for (comp_rows, comp_cols) in components(rows, cols, |i, j| feasible(costs[i * cols + j])) {
        let sub: Vec<f64> = comp_rows.iter().flat_map(|&i| comp_cols.iter().map(move |&j| costs[i * cols + j])).collect();
        for (r, c) in assign_dense(&sub, comp_rows.len(), comp_cols.len(), limit) {
            pairs.push((comp_rows[r], comp_cols[c]));
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Rows and columns grouped by the connected components of the feasible pairs; rows and
/// columns without any feasible pair are left out (they stay unmatched).
fn components(rows: usize, cols: usize, feasible: impl Fn(usize, usize) -> bool) -> Vec<(Vec<usize>, Vec<usize>)> {
    // Union-find over rows 0..rows and columns rows..rows+cols.
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut linked = vec![false; rows + cols];
    for i in 0..rows {
        for j in 0..cols {
            if feasible(i, j) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, rows + j));
                if a != b {
                    parent[a] = b;
                }
                linked[i] = true;
                linked[rows + j] = true;
            }
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, (Vec<usize>, Vec<usize>)> = Default::default();
    for (x, &is_linked) in linked.iter().enumerate() {
        if is_linked {
            let r = root(&mut parent, x);
            let e = by_root.entry(r).or_default();
            if x < rows { e.0.push(x) } else { e.1.push(x - rows) }
        }
    }
    by_root.into_values().collect()
}

/// [`assign`] on one dense problem.
fn assign_dense(costs: &[f64], rows: usize, cols: usize, limit: f64) -> Vec<(usize, usize)> {
    let feasible = |c: f64| c.is_finite() && c < limit;
    if rows == 1 && cols == 1 {
        return if feasible(costs[0]) { vec![(0, 0)] } else { Vec::new() };
    }
    // Square matrix of side n = rows + cols: real pairs top-left, "row unmatched" dummies
    // top-right, "column unmatched" dummies bottom-left, dummy–dummy pairs (free) bottom-right.
    // A forbidden pair costs more than leaving both ends unmatched, so it is never chosen.
    let n = rows + cols;
    let forbidden = 2.0 * limit + 1.0;
    let half = limit / 2.0;
    let cost = |i: usize, j: usize| -> f64 {
        match (i < rows, j < cols) {
            (true, true) => {
                let c = costs[i * cols + j];
                if feasible(c) { c.max(0.0) } else { forbidden }
            }
            (true, false) | (false, true) => half,
            (false, false) => 0.0,
        }
    };
    hungarian(n, cost).iter().enumerate().filter_map(|(j, &i)| (i < rows && j < cols && feasible(costs[i * cols + j])).then_some((i, j))).collect()
}

/// Hungarian method with row/column potentials for a square `n × n` matrix: returns, for each
/// column, the row assigned to it (a minimum-cost perfect matching). Costs must be finite.
fn hungarian(n: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    // 1-based arrays with index 0 as the virtual start column, as in the classic formulation.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; n + 1];
    let mut row_of = vec![0usize; n + 1]; // row matched to column j (0 = none)
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // Augment along the alternating path back to the virtual column.
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    (1..=n).map(|j| row_of[j] - 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    /// Total objective: matched costs plus limit/2 per unmatched row and column.
    fn objective(costs: &[f64], rows: usize, cols: usize, limit: f64, pairs: &[(usize, usize)]) -> f64 {
        let matched: f64 = pairs.iter().map(|&(i, j)| costs[i * cols + j]).sum();
        matched + (rows + cols - 2 * pairs.len()) as f64 * limit / 2.0
    }

    /// Best objective over every partial matching (rows ≤ 4, cols ≤ 4).
    fn brute_force(costs: &[f64], rows: usize, cols: usize, limit: f64) -> f64 {
        #[allow(clippy::too_many_arguments)]
        fn go(i: usize, used: &mut Vec<bool>, acc: f64, costs: &[f64], rows: usize, cols: usize, limit: f64, best: &mut f64) {
            if i == rows {
                let unmatched_cols = used.iter().filter(|u| !**u).count();
                *best = best.min(acc + unmatched_cols as f64 * limit / 2.0);
                return;
            }
            go(i + 1, used, acc + limit / 2.0, costs, rows, cols, limit, best);
            for j in 0..cols {
                let c = costs[i * cols + j];
                if !used[j] && c.is_finite() && c < limit {
                    used[j] = true;
                    go(i + 1, used, acc + c, costs, rows, cols, limit, best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        go(0, &mut vec![false; cols], 0.0, costs, rows, cols, limit, &mut best);
        best
    }

    #[test]
    fn finds_the_optimum_where_greedy_fails() {
        // Greedy takes the cheapest pair (0,0) = 0.1 and is left with (1,1) = 0.9: total 1.0.
        // The optimum crosses over: 0.2 + 0.15 = 0.35.
        let c = [0.1, 0.2, 0.15, 0.9];
        assert_eq!(assign(&c, 2, 2, 1.0), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn pairs_at_or_over_the_limit_stay_unmatched() {
        let c = [0.3, f64::INFINITY, 0.95, 0.8];
        assert_eq!(assign(&c, 2, 2, 0.9), vec![(0, 0), (1, 1)]);
        assert_eq!(assign(&c, 2, 2, 0.5), vec![(0, 0)]);
        assert_eq!(assign(&[0.5], 1, 1, 0.5), vec![]);
        assert_eq!(assign(&[f64::INFINITY; 4], 2, 2, 1.0), vec![]);
    }

    #[test]
    fn rectangular_and_empty_matrices() {
        assert_eq!(assign(&[], 0, 3, 1.0), vec![]);
        assert_eq!(assign(&[], 3, 0, 1.0), vec![]);
        // One track, three detections: the cheapest wins.
        assert_eq!(assign(&[0.6, 0.2, 0.4], 1, 3, 1.0), vec![(0, 1)]);
        // Three tracks, one detection.
        assert_eq!(assign(&[0.6, 0.2, 0.4], 3, 1, 1.0), vec![(1, 0)]);
    }

    #[test]
    fn matches_brute_force_on_random_matrices() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(17);
        for _ in 0..500 {
            let rows = rng.random_range(0..=4);
            let cols = rng.random_range(0..=4);
            let limit = 1.0;
            let costs: Vec<f64> = (0..rows * cols).map(|_| if rng.random_bool(0.2) { f64::INFINITY } else { rng.random_range(0.0..1.3) }).collect();
            let pairs = assign(&costs, rows, cols, limit);
            let mut seen_r = vec![false; rows];
            let mut seen_c = vec![false; cols];
            for &(i, j) in &pairs {
                assert!(!seen_r[i] && !seen_c[j], "row or column used twice: {pairs:?}");
                seen_r[i] = true;
                seen_c[j] = true;
                assert!(costs[i * cols + j] < limit);
            }
            let got = objective(&costs, rows, cols, limit, &pairs);
            let best = brute_force(&costs, rows, cols, limit);
            assert!((got - best).abs() < 1e-9, "{rows}×{cols} {costs:?}: got {got}, best {best}");
        }
    }

    #[test]
    fn splitting_into_components_changes_nothing() {
        // Sparse problems like a crowd: each row reaches a few columns. The split solution
        // must be as good as the dense one.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for _ in 0..50 {
            let (rows, cols) = (rng.random_range(1..30), rng.random_range(1..30));
            let costs: Vec<f64> = (0..rows * cols).map(|_| if rng.random_bool(0.1) { rng.random_range(0.0..1.0) } else { f64::INFINITY }).collect();
            let split = assign(&costs, rows, cols, 1.0);
            let dense = assign_dense(&costs, rows, cols, 1.0);
            let (a, b) = (objective(&costs, rows, cols, 1.0, &split), objective(&costs, rows, cols, 1.0, &dense));
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let comps = components(3, 3, |i, j| i == j || (i, j) == (0, 1));
        assert_eq!(comps, vec![(vec![0, 1], vec![0, 1]), (vec![2], vec![2])]);
    }
}
