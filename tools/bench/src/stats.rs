//! Percentiles of a sample, by sorting it (samples here are at most a few thousand values).

use serde::Serialize;

/// Summary of a sample of durations, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of_micros(values: &[u64]) -> Self {
        let ms: Vec<f64> = values.iter().map(|&v| v as f64 / 1000.0).collect();
        Self::of_ms(&ms)
    }

    pub fn of_ms(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // Nearest rank.
        let rank = |p: f64| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        if n == 0 {
            return Self::default();
        }
        Self {
            n,
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            min_ms: sorted[0],
            max_ms: sorted[n - 1],
            mean_ms: sorted.iter().sum::<f64>() / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred_are_the_ranks_themselves() {
        let s = Summary::of_ms(&(1..=100).map(f64::from).collect::<Vec<_>>());
        let all = (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms);
        assert_eq!(all, (50.0, 95.0, 99.0, 100.0));
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        let s = Summary::of_micros(&[1500]);
        assert_eq!((s.p50_ms, s.p99_ms), (1.5, 1.5));
    }
}
