//! A fixed observation normaliser `(s − μ)/σ`, clipped, with μ and σ taken from the expert's
//! states once (see [`crate::GailConfig::normalize_observations`]).

/// Clip of normalised observations (baselines' `RunningMeanStd` inputs are clipped to ±5).
const CLIP: f32 = 5.0;
/// Floor on σ so constant dimensions do not explode.
const MIN_STD: f32 = 1e-2;

/// `(s − μ)/σ` clipped to `±5`, or the identity.
#[derive(Clone, Debug, PartialEq)]
pub struct ObsNormalizer {
    mean: Vec<f32>,
    std: Vec<f32>,
    enabled: bool,
}

impl ObsNormalizer {
    /// The identity on `dim`-wide observations.
    pub fn identity(dim: usize) -> Self {
        ObsNormalizer {
            mean: vec![0.0; dim],
            std: vec![1.0; dim],
            enabled: false,
        }
    }

    /// Per-dimension mean and standard deviation (floored at `1e-2`) of `obs: [N, dim]`.
    pub fn fit(obs: &[f32], dim: usize) -> Self {
        let rows = obs.len() / dim.max(1);
        if rows == 0 {
            return Self::identity(dim);
        }
        let mut mean = vec![0.0f64; dim];
        for row in obs.chunks_exact(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut var = vec![0.0f64; dim];
        for row in obs.chunks_exact(dim) {
            for ((v, &x), m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (f64::from(x) - m).powi(2);
            }
        }
        ObsNormalizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| ((v / rows as f64).sqrt() as f32).max(MIN_STD))
                .collect(),
            enabled: true,
        }
    }

    /// Rebuilds a normaliser from stored statistics (a checkpoint).
    pub fn from_parts(mean: Vec<f32>, std: Vec<f32>, enabled: bool) -> Self {
        ObsNormalizer { mean, std, enabled }
    }

    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    pub fn std(&self) -> &[f32] {
        &self.std
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Normalised copy of row-major `obs` (`[N, dim]`).
    pub fn apply(&self, obs: &[f32]) -> Vec<f32> {
        if !self.enabled {
            return obs.to_vec();
        }
        let d = self.mean.len().max(1);
        obs.chunks(d)
            .flat_map(|row| {
                row.iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((&x, &m), &s)| ((x - m) / s).clamp(-CLIP, CLIP))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_floors_and_clips() {
        let obs = [1.0, 5.0, 3.0, 5.0];
        let n = ObsNormalizer::fit(&obs, 2);
        assert_eq!(n.mean(), &[2.0, 5.0]);
        assert_eq!(n.std(), &[1.0, MIN_STD]);
        assert_eq!(n.apply(&[3.0, 5.0]), vec![1.0, 0.0]);
        assert_eq!(n.apply(&[100.0, 4.0]), vec![CLIP, -CLIP]);
        let id = ObsNormalizer::identity(2);
        assert_eq!(id.apply(&[100.0, 4.0]), vec![100.0, 4.0]);
    }
}
