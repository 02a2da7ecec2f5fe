//! Space-Saving (Metwally et al.): the heavy hitters of a stream in a fixed
//! number of counters. A new key takes a free counter, or replaces the
//! smallest one and inherits its count (its error bound). Exported label
//! cardinality is therefore at most the capacity.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct SpaceSaving {
    capacity: usize,
    /// key -> (count, overestimation bound)
    counts: HashMap<String, (u64, u64)>,
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            counts: HashMap::new(),
        }
    }

    /// Counts `weight` occurrences of `key` (a sampled event stands for N).
    pub fn add(&mut self, key: &str, weight: u64) {
        if let Some(c) = self.counts.get_mut(key) {
            c.0 += weight;
            return;
        }
        if self.counts.len() < self.capacity {
            self.counts.insert(key.to_string(), (weight, 0));
            return;
        }
        // O(capacity) eviction keeps the structure simple; capacities are
        // small (hundreds) and insertions of new keys are the rare case.
        let Some((min_key, &(min_count, _))) = self.counts.iter().min_by_key(|(_, c)| c.0) else {
            return;
        };
        let min_key = min_key.clone();
        self.counts.remove(&min_key);
        self.counts
            .insert(key.to_string(), (min_count + weight, min_count));
    }

    /// The `n` largest counts, largest first: (key, estimate, error bound).
    pub fn top(&self, n: usize) -> Vec<(String, u64, u64)> {
        let mut v: Vec<(String, u64, u64)> = self
            .counts
            .iter()
            .map(|(k, &(c, e))| (k.clone(), c, e))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_heavy_hitters_with_bounded_keys() {
        // 2500 events in 10 counters: errors stay under 2500/10 = 250.
        let mut s = SpaceSaving::new(10);
        for i in 0..1000 {
            s.add("/usr/bin/heavy", 1);
            s.add(&format!("/tmp/rare-{i}"), 1);
            if i % 2 == 0 {
                s.add("/usr/bin/medium", 1);
            }
        }
        assert_eq!(s.len(), 10);
        let top = s.top(2);
        assert_eq!(top[0].0, "/usr/bin/heavy");
        assert!(top[0].1 >= 1000);
        assert_eq!(top[1].0, "/usr/bin/medium");
        // The guarantee: every estimate minus its error is a lower bound.
        for (_, c, e) in s.top(10) {
            assert!(c >= e);
        }
    }

    #[test]
    fn weights_stand_for_sampled_events() {
        let mut s = SpaceSaving::new(10);
        s.add("a", 8);
        s.add("a", 8);
        assert_eq!(s.top(1), vec![("a".to_string(), 16, 0)]);
    }
}
