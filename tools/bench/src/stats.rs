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
    /// From microseconds.
    pub fn of_micros(values: &[u64]) -> Self {
        let ms: Vec<f64> = values.iter().map(|&v| v as f64 / 1000.0).collect();
        Self::of_ms(&ms)
    }

    pub fn of_ms(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        // Nearest rank.
        let percentile = |p: f64| {
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        match (sorted.first(), sorted.last()) {
            (Some(&min_ms), Some(&max_ms)) => Self {
                n: sorted.len(),
                p50_ms: percentile(50.0),
                p95_ms: percentile(95.0),
                p99_ms: percentile(99.0),
                min_ms,
                max_ms,
                mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
            },
            _ => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred_are_the_ranks_themselves() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of_ms(&values);
        assert_eq!(
            (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        let s = Summary::of_micros(&[1500]);
        assert_eq!((s.p50_ms, s.p99_ms), (1.5, 1.5));
    }
}
