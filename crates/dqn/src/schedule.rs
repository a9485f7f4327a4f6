/// ε for ε-greedy exploration: linear decay from `initial` to `final_eps` over the first
/// `fraction · total` steps, constant afterwards (Mnih et al. 2015).
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
}
