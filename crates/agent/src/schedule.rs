//! Linear schedules: DQN's ε (Mnih et al. 2015), ACER's learning-rate decay (openai/baselines'
//! `lrschedule='linear'`), any hyperparameter annealed over a run.

/// Linear change from `initial` to `final_value` over the first `fraction · total` steps,
/// constant afterwards: `initial + p (final − initial)` with `p = step / decay_steps`.
/// A multiplier schedule from 1 to 0 gives `1 − p` exactly, so `lr · value(step)` is
/// baselines' `lr · (1 − step / total)`.
#[derive(Clone, Copy, Debug)]
pub struct LinearSchedule {
    pub initial: f32,
    pub final_value: f32,
    pub decay_steps: u64,
}

impl LinearSchedule {
    pub fn new(initial: f32, final_value: f32, fraction: f32, total_steps: u64) -> Self {
        LinearSchedule {
            initial,
            final_value,
            decay_steps: (fraction as f64 * total_steps as f64).round() as u64,
        }
    }

    /// The value at `step`.
    pub fn value(&self, step: u64) -> f32 {
        if step >= self.decay_steps {
            return self.final_value;
        }
        let progress = step as f32 / self.decay_steps as f32;
        self.initial + progress * (self.final_value - self.initial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_linearly_then_stays() {
        let s = LinearSchedule::new(1.0, 0.1, 0.5, 100);
        assert!((s.value(0) - 1.0).abs() < 1e-6);
        assert!((s.value(25) - 0.55).abs() < 1e-6);
        assert!((s.value(50) - 0.1).abs() < 1e-6);
        assert!((s.value(1000) - 0.1).abs() < 1e-6);
        let instant = LinearSchedule::new(1.0, 0.1, 0.0, 100);
        assert!((instant.value(0) - 0.1).abs() < 1e-6);
    }

    #[test]
    fn a_one_to_zero_multiplier_is_exactly_one_minus_progress() {
        let total = 300_000;
        let s = LinearSchedule::new(1.0, 0.0, 1.0, total);
        for step in (0..total).step_by(977) {
            let p = step as f32 / total as f32;
            assert_eq!(s.value(step).to_bits(), (1.0 - p).to_bits(), "step {step}");
        }
        assert_eq!(s.value(total).to_bits(), 0.0_f32.to_bits());
    }
}
