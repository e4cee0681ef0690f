//! Streaming selection: the best `k` of a stream of scored mixtures, in bounded memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The best `k` items by value seen in a stream; ties keep the earlier id.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    value: f64,
    id: u64,
    weights: Vec<f64>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Larger value first; among equal values the smaller id ranks higher.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value
            .total_cmp(&other.value)
            .then(other.id.cmp(&self.id))
    }
}

impl TopK {
    /// Keeps the `k` best.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            // Grows with what is offered: `k` may be far larger than any stream.
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    /// Offers item `id` with `value`; `weights` is copied only when it enters.
    pub fn offer(&mut self, value: f64, id: u64, weights: &[f64]) {
        if self.k == 0 || value.is_nan() {
            return;
        }
        if self.heap.len() == self.k {
            let worst = &self.heap.peek().expect("heap is full").0;
            if value < worst.value || (value == worst.value && id > worst.id) {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(Entry {
            value,
            id,
            weights: weights.to_vec(),
        }));
    }

    /// The kept items, best first: `(value, id, weights)`.
    pub fn into_sorted(self) -> Vec<(f64, u64, Vec<f64>)> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|e| (e.value, e.id, e.weights)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_with_stable_ties() {
        let mut t = TopK::new(3);
        for (i, v) in [1.0, 5.0, 3.0, 5.0, 2.0, 4.0].into_iter().enumerate() {
            t.offer(v, i as u64, &[v]);
        }
        let ids: Vec<u64> = t.into_sorted().into_iter().map(|e| e.1).collect();
        assert_eq!(ids, vec![1, 3, 5]);
    }
}
