//! Optimizers over [`Parameterized`] networks, with global-norm gradient clipping.
//!
//! dfdx 0.13's own optimizers walk compile-time-shaped modules; eirl's networks have
//! runtime widths, so the update rules are applied here with dfdx tensor ops (they run on
//! whichever [`Device`] the network lives on).

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Gradients;
use crate::checkpoint::Checkpoint;
use crate::device::{Device, Matrix, Vector};
use crate::error::ModelError;
use crate::param::{ParamMut, ParamRef, Parameterized};

/// One parameter's gradient (or optimizer moment), shaped like the parameter.
#[derive(Clone)]
enum Slot {
    Matrix(Matrix),
    Vector(Vector),
}

impl Slot {
    fn zeros_like(&self) -> Slot {
        match self {
            Slot::Matrix(t) => {
                let mut z = t.clone();
                z.fill_with_zeros();
                Slot::Matrix(z)
            }
            Slot::Vector(t) => {
                let mut z = t.clone();
                z.fill_with_zeros();
                Slot::Vector(z)
            }
        }
    }

    fn sum_sq(&self) -> f32 {
        match self {
            Slot::Matrix(t) => t.clone().square().sum::<Rank0, _>().array(),
            Slot::Vector(t) => t.clone().square().sum::<Rank0, _>().array(),
        }
    }
}

/// Gradients of each parameter in enumeration order; absent ones are zero.
fn collect_grads<N: Parameterized + ?Sized>(net: &mut N, grads: &mut Gradients) -> Vec<Slot> {
    net.params_mut()
        .into_iter()
        .map(|p| match p {
            ParamMut::Matrix(t) => {
                let g = grads.try_alloc_for(&*t).map(|_| grads.get(&*t));
                Slot::Matrix(g.unwrap_or_else(|_| {
                    let mut z = t.clone();
                    z.fill_with_zeros();
                    z
                }))
            }
            ParamMut::Vector(t) => {
                let g = grads.try_alloc_for(&*t).map(|_| grads.get(&*t));
                Slot::Vector(g.unwrap_or_else(|_| {
                    let mut z = t.clone();
                    z.fill_with_zeros();
                    z
                }))
            }
        })
        .collect()
}

/// Stores optimizer slots as `<name>.<i>` tensors.
fn insert_slots(ck: &mut Checkpoint, name: &str, slots: &[Slot]) {
    for (i, slot) in slots.iter().enumerate() {
        let (shape, values) = match slot {
            Slot::Matrix(t) => {
                let (r, c) = *t.shape();
                (vec![r, c], t.as_vec())
            }
            Slot::Vector(t) => (vec![t.shape().0], t.as_vec()),
        };
        ck.insert(format!("{name}.{i}"), shape, values);
    }
}

/// Optimizer state kept in flat buffers for [`Optimizer::step_flat`], with the parameter
/// shapes that split it back into per-tensor slots (checkpoints look the same either way).
struct Flat {
    shapes: Vec<Vec<usize>>,
    bufs: Vec<Vec<f32>>,
}

impl Flat {
    /// Stores buffer `k` as `<name>.<i>` tensors, like [`insert_slots`].
    fn insert(&self, ck: &mut Checkpoint, name: &str, k: usize) {
        let mut offset = 0;
        for (i, shape) in self.shapes.iter().enumerate() {
            let n: usize = shape.iter().product();
            ck.insert(
                format!("{name}.{i}"),
                shape.clone(),
                self.bufs[k][offset..offset + n].to_vec(),
            );
            offset += n;
        }
    }

    /// Buffer `k` as per-tensor slots shaped (and placed) like `net`'s parameters, or `None`
    /// when the shapes differ.
    fn to_slots<N: Parameterized + ?Sized>(&self, k: usize, net: &N) -> Option<Vec<Slot>> {
        let params = net.params();
        let shapes: Vec<Vec<usize>> = params.iter().map(ParamRef::shape).collect();
        if shapes != self.shapes {
            return None;
        }
        let mut offset = 0;
        let slots = params
            .iter()
            .map(|p| {
                let n = p.numel();
                let values = self.bufs[k][offset..offset + n].to_vec();
                offset += n;
                match p {
                    ParamRef::Matrix(t) => {
                        Slot::Matrix(t.device().tensor_from_vec(values, *t.shape()))
                    }
                    ParamRef::Vector(t) => {
                        Slot::Vector(t.device().tensor_from_vec(values, *t.shape()))
                    }
                }
            })
            .collect();
        Some(slots)
    }
}

/// Per-tensor slots concatenated in order, when their shapes are `shapes`.
fn slots_to_flat(slots: &[Slot], shapes: &[Vec<usize>]) -> Option<Vec<f32>> {
    let slot_shapes: Vec<Vec<usize>> = slots
        .iter()
        .map(|s| match s {
            Slot::Matrix(t) => vec![t.shape().0, t.shape().1],
            Slot::Vector(t) => vec![t.shape().0],
        })
        .collect();
    (slot_shapes == shapes).then(|| {
        slots
            .iter()
            .flat_map(|s| match s {
                Slot::Matrix(t) => t.as_vec(),
                Slot::Vector(t) => t.as_vec(),
            })
            .collect()
    })
}

/// Makes `flat` the state for parameters of `shapes`: kept when it already is, else carried
/// over from the per-tensor `slots` (one buffer per slot vector, which is then emptied) when
/// their shapes match, else zeros. Returns its buffers and whether they start from zeros.
fn ensure_flat<'f>(
    flat: &'f mut Option<Flat>,
    slots: &mut [&mut Vec<Slot>],
    shapes: &[Vec<usize>],
) -> (&'f mut [Vec<f32>], bool) {
    if flat.as_ref().is_some_and(|f| f.shapes == shapes) {
        return (
            flat.as_mut().map_or(&mut [][..], |f| &mut f.bufs[..]),
            false,
        );
    }
    let carried: Option<Vec<Vec<f32>>> = slots
        .iter()
        .map(|s| (!s.is_empty()).then(|| slots_to_flat(s, shapes)).flatten())
        .collect();
    let fresh = carried.is_none();
    let len = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let bufs = carried.unwrap_or_else(|| vec![vec![0.0; len]; slots.len()]);
    for s in slots.iter_mut() {
        s.clear();
    }
    let flat = flat.insert(Flat {
        shapes: shapes.to_vec(),
        bufs,
    });
    (&mut flat.bufs[..], fresh)
}

/// Checks a flat step's buffers against each other and the shapes; returns the clip scale and
/// the gradient norm before clipping.
fn flat_clip(
    params: &[f32],
    grads: &[f32],
    shapes: &[Vec<usize>],
    max_grad_norm: Option<f32>,
) -> Result<(f32, f32), ModelError> {
    let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    crate::error::check_len("flat parameters", total, params.len())?;
    crate::error::check_len("flat gradients", total, grads.len())?;
    let norm = pulp::Arch::new().dispatch(SumSquares(grads)).sqrt();
    if !norm.is_finite() {
        return Err(ModelError::NonFinite("gradient"));
    }
    let scale = match max_grad_norm {
        Some(m) if norm > m && norm > 0.0 => m / norm,
        _ => 1.0,
    };
    Ok((norm, scale))
}

/// Reads `<name>.<i>` slots shaped like `net`'s parameters (and on its device).
fn restore_slots<N: Parameterized + ?Sized>(
    ck: &Checkpoint,
    name: &str,
    net: &N,
) -> Result<Vec<Slot>, ModelError> {
    let params = net.params();
    if ck.get(&format!("{name}.{}", params.len())).is_some() {
        return Err(ModelError::Config(format!(
            "checkpoint has more than {} optimizer tensors under {name}",
            params.len()
        )));
    }
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let key = format!("{name}.{i}");
            let (shape, values) = ck
                .get(&key)
                .ok_or_else(|| ModelError::Config(format!("checkpoint has no tensor {key}")))?;
            if shape != p.shape().as_slice() {
                return Err(ModelError::Config(format!(
                    "{key}: expected shape {:?}, got {shape:?}",
                    p.shape()
                )));
            }
            let mut slot = match p {
                ParamRef::Matrix(t) => Slot::Matrix((*t).clone()),
                ParamRef::Vector(t) => Slot::Vector((*t).clone()),
            };
            crate::error::check_len("optimizer state", p.numel(), values.len())?;
            match &mut slot {
                Slot::Matrix(t) => t.copy_from(values),
                Slot::Vector(t) => t.copy_from(values),
            }
            Ok(slot)
        })
        .collect()
}

fn global_norm(slots: &[Slot]) -> f32 {
    slots.iter().map(Slot::sum_sq).sum::<f32>().sqrt()
}

/// The global L2 norm `‖g‖ = sqrt(Σ_i ‖g_i‖²)` of a network's gradients.
pub fn global_grad_norm<N: Parameterized + ?Sized>(net: &mut N, grads: &mut Gradients) -> f32 {
    global_norm(&collect_grads(net, grads))
}

/// Scale that clips the global norm to `max_norm` (`min(1, max/‖g‖)`), and the norm itself.
fn clip_scale(slots: &[Slot], max_norm: Option<f32>) -> Result<(f32, f32), ModelError> {
    let norm = global_norm(slots);
    if !norm.is_finite() {
        return Err(ModelError::NonFinite("gradient"));
    }
    let scale = match max_norm {
        Some(m) if norm > m && norm > 0.0 => m / norm,
        _ => 1.0,
    };
    Ok((norm, scale))
}

/// A first-order optimizer.
pub trait Optimizer {
    /// Applies one update from `grads`, first scaling them so their global norm is at most
    /// `max_grad_norm`. Returns the gradient norm before clipping. Non-finite gradients are an
    /// error and leave the parameters unchanged.
    fn step<N: Parameterized + ?Sized>(
        &mut self,
        net: &mut N,
        grads: &mut Gradients,
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError>;

    /// The same update for parameters and gradients held in flat buffers (a
    /// [`crate::FusedMlp`]'s layout), in one pass over them. `shapes` are the parameter tensors'
    /// shapes in flat order; they must sum to the buffers' length, and the optimizer keeps them
    /// so its checkpoint state has the same per-tensor layout as after [`Optimizer::step`].
    /// Switching between the two entry points on the same network carries the state over.
    /// Unlike [`Optimizer::step`], moments that decay into the subnormal range are set to zero.
    fn step_flat(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        shapes: &[Vec<usize>],
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError>;

    /// Changes the learning rate (schedules).
    fn set_lr(&mut self, lr: f32);
}

/// Adam's hyperparameters (Kingma & Ba 2015); defaults are the paper's.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// L2 penalty `wd/2 · ‖θ‖²` added to the loss, i.e. `wd · θ` added to the (clipped)
    /// gradient before the moments (PyTorch's `Adam(weight_decay=…)`, not AdamW). 0 = none.
    /// With weight decay, parameters that decay into the subnormal range are set to zero after
    /// each step (as TensorFlow's flush-to-zero on CPU does).
    #[serde(default)]
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam with bias-corrected moments (PyTorch's formulation).
pub struct Adam {
    pub cfg: AdamConfig,
    t: i32,
    m: Vec<Slot>,
    v: Vec<Slot>,
    /// The moments `[m, v]` while the flat path is in use (then `m` and `v` are empty).
    flat: Option<Flat>,
}

impl Adam {
    pub fn new(cfg: AdamConfig) -> Self {
        Adam {
            cfg,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
            flat: None,
        }
    }

    /// Number of updates applied so far.
    pub fn steps(&self) -> i32 {
        self.t
    }

    /// Stores the state that makes the next update exact after a resume: the first and second
    /// moments (`<prefix>.m.<i>`, `<prefix>.v.<i>`, shaped like the parameters) and the step
    /// count `t` (metadata `<prefix>.t`, which sets the bias corrections). The hyperparameters
    /// are the config's and are not stored.
    pub fn insert_state(&self, ck: &mut Checkpoint, prefix: &str) {
        ck.set_meta(format!("{prefix}.t"), self.t.to_string());
        if let Some(flat) = &self.flat {
            flat.insert(ck, &format!("{prefix}.m"), 0);
            flat.insert(ck, &format!("{prefix}.v"), 1);
        } else {
            insert_slots(ck, &format!("{prefix}.m"), &self.m);
            insert_slots(ck, &format!("{prefix}.v"), &self.v);
        }
    }

    /// Restores [`Adam::insert_state`]'s output for the network `net` it will update (shapes
    /// and device come from it). Fails, changing nothing, when the shapes differ.
    pub fn restore_state<N: Parameterized + ?Sized>(
        &mut self,
        ck: &Checkpoint,
        prefix: &str,
        net: &N,
    ) -> Result<(), ModelError> {
        let t: i32 = ck.parse_meta(&format!("{prefix}.t"))?;
        let (m, v) = if t == 0 {
            (Vec::new(), Vec::new())
        } else {
            (
                restore_slots(ck, &format!("{prefix}.m"), net)?,
                restore_slots(ck, &format!("{prefix}.v"), net)?,
            )
        };
        (self.t, self.m, self.v, self.flat) = (t, m, v, None);
        Ok(())
    }
}

fn adam_update<S: Shape>(
    p: &mut Tensor<S, f32, Device>,
    g: &Tensor<S, f32, Device>,
    m: &mut Tensor<S, f32, Device>,
    v: &mut Tensor<S, f32, Device>,
    cfg: &AdamConfig,
    t: i32,
    scale: f32,
) {
    // Weight decay: the gradient becomes `scale·g + wd·θ` (then already scaled).
    let decayed;
    let (g, scale) = if cfg.weight_decay > 0.0 {
        decayed = g.clone() * scale + p.clone() * cfg.weight_decay;
        (&decayed, 1.0)
    } else {
        (g, scale)
    };
    m.axpy(cfg.beta1, g, (1.0 - cfg.beta1) * scale);
    v.axpy(
        cfg.beta2,
        &g.clone().square(),
        (1.0 - cfg.beta2) * scale * scale,
    );
    let bc1 = 1.0 - cfg.beta1.powi(t);
    let bc2 = 1.0 - cfg.beta2.powi(t);
    let denom = v.clone().sqrt() * (1.0 / bc2.sqrt()) + cfg.eps;
    let update = m.clone() / denom;
    p.axpy(1.0, &update, -cfg.lr / bc1);
}

/// Sets subnormal entries of a parameter to zero. Weight decay shrinks weights that get no
/// gradient (dead units) geometrically, into the subnormal range, where every matrix product
/// that reads them runs at a small fraction of its speed (no flush-to-zero on the CPU here; a
/// STEVE world model slowed down 4× within 10k updates). Changes values by < 1.2e-38.
fn flush_subnormal(mut p: ParamMut<'_>) -> Result<(), ModelError> {
    let values = match &p {
        ParamMut::Matrix(t) => t.as_vec(),
        ParamMut::Vector(t) => t.as_vec(),
    };
    if values.iter().any(|x| x.is_subnormal()) {
        let flushed: Vec<f32> = values
            .into_iter()
            .map(|x| if x.is_subnormal() { 0.0 } else { x })
            .collect();
        p.copy_from(&flushed)?;
    }
    Ok(())
}

impl Optimizer for Adam {
    fn step<N: Parameterized + ?Sized>(
        &mut self,
        net: &mut N,
        grads: &mut Gradients,
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError> {
        let g = collect_grads(net, grads);
        let (norm, scale) = clip_scale(&g, max_grad_norm)?;
        if let Some((m, v)) = self
            .flat
            .take()
            .and_then(|f| f.to_slots(0, net).zip(f.to_slots(1, net)))
        {
            (self.m, self.v) = (m, v);
        }
        if self.m.len() != g.len() {
            self.m = g.iter().map(Slot::zeros_like).collect();
            self.v = g.iter().map(Slot::zeros_like).collect();
            self.t = 0;
        }
        self.t += 1;
        let cfg = self.cfg;
        let t = self.t;
        for (((p, g), m), v) in net
            .params_mut()
            .into_iter()
            .zip(&g)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            match (p, g, m, v) {
                (ParamMut::Matrix(p), Slot::Matrix(g), Slot::Matrix(m), Slot::Matrix(v)) => {
                    adam_update(p, g, m, v, &cfg, t, scale)
                }
                (ParamMut::Vector(p), Slot::Vector(g), Slot::Vector(m), Slot::Vector(v)) => {
                    adam_update(p, g, m, v, &cfg, t, scale)
                }
                _ => {
                    return Err(ModelError::Config(
                        "optimizer state does not match the network".into(),
                    ));
                }
            }
        }
        if cfg.weight_decay > 0.0 {
            for p in net.params_mut() {
                flush_subnormal(p)?;
            }
        }
        Ok(norm)
    }

    fn step_flat(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        shapes: &[Vec<usize>],
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError> {
        let (norm, scale) = flat_clip(params, grads, shapes, max_grad_norm)?;
        let (bufs, fresh) = ensure_flat(&mut self.flat, &mut [&mut self.m, &mut self.v], shapes);
        let [m, v] = bufs else {
            return Err(ModelError::Config("Adam keeps two flat moments".into()));
        };
        if fresh {
            self.t = 0;
        }
        self.t += 1;
        let cfg = self.cfg;
        let bc1 = 1.0 - cfg.beta1.powi(self.t);
        let bc2 = 1.0 - cfg.beta2.powi(self.t);
        let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
        let step = -cfg.lr / bc1;
        let kernel = AdamKernel {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            wd: cfg.weight_decay,
            scale,
            inv_sqrt_bc2,
            step,
        };
        for_chunks(params, grads, m, v, |p, g, m, v| {
            pulp::Arch::new().dispatch(AdamChunk {
                k: &kernel,
                p,
                g,
                m,
                v,
            });
        });
        Ok(norm)
    }

    fn set_lr(&mut self, lr: f32) {
        self.cfg.lr = lr;
    }
}

/// RMSProp's hyperparameters. Defaults follow ACER/A3C (openai/baselines: decay 0.99,
/// ε = 1e-5 inside the square root, TensorFlow's formulation).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct RmsPropConfig {
    pub lr: f32,
    /// Decay of the running mean of squared gradients.
    pub alpha: f32,
    pub eps: f32,
    /// `true`: `θ ← θ − lr·g/sqrt(E[g²] + ε)` (TensorFlow); `false`: `θ ← θ − lr·g/(sqrt(E[g²]) + ε)` (PyTorch).
    pub eps_inside_sqrt: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 7e-4,
            alpha: 0.99,
            eps: 1e-5,
            eps_inside_sqrt: true,
        }
    }
}

/// RMSProp (Tieleman & Hinton 2012).
pub struct RmsProp {
    pub cfg: RmsPropConfig,
    sq: Vec<Slot>,
    /// The running mean of squared gradients while the flat path is in use (`sq` is empty).
    flat: Option<Flat>,
}

impl RmsProp {
    pub fn new(cfg: RmsPropConfig) -> Self {
        RmsProp {
            cfg,
            sq: Vec::new(),
            flat: None,
        }
    }

    /// Stores the running mean of squared gradients (`<prefix>.sq.<i>`; metadata
    /// `<prefix>.initialized`), for exact resume.
    pub fn insert_state(&self, ck: &mut Checkpoint, prefix: &str) {
        let initialized = !self.sq.is_empty() || self.flat.is_some();
        ck.set_meta(format!("{prefix}.initialized"), initialized.to_string());
        match &self.flat {
            Some(flat) => flat.insert(ck, &format!("{prefix}.sq"), 0),
            None => insert_slots(ck, &format!("{prefix}.sq"), &self.sq),
        }
    }

    /// Restores [`RmsProp::insert_state`]'s output for the network `net` it will update.
    /// Fails, changing nothing, when the shapes differ.
    pub fn restore_state<N: Parameterized + ?Sized>(
        &mut self,
        ck: &Checkpoint,
        prefix: &str,
        net: &N,
    ) -> Result<(), ModelError> {
        let initialized: bool = ck.parse_meta(&format!("{prefix}.initialized"))?;
        self.sq = if initialized {
            restore_slots(ck, &format!("{prefix}.sq"), net)?
        } else {
            Vec::new()
        };
        self.flat = None;
        Ok(())
    }
}

fn rmsprop_update<S: Shape>(
    p: &mut Tensor<S, f32, Device>,
    g: &Tensor<S, f32, Device>,
    sq: &mut Tensor<S, f32, Device>,
    cfg: &RmsPropConfig,
    scale: f32,
) {
    sq.axpy(
        cfg.alpha,
        &g.clone().square(),
        (1.0 - cfg.alpha) * scale * scale,
    );
    let denom = if cfg.eps_inside_sqrt {
        (sq.clone() + cfg.eps).sqrt()
    } else {
        sq.clone().sqrt() + cfg.eps
    };
    let update = g.clone() / denom;
    p.axpy(1.0, &update, -cfg.lr * scale);
}

impl Optimizer for RmsProp {
    fn step<N: Parameterized + ?Sized>(
        &mut self,
        net: &mut N,
        grads: &mut Gradients,
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError> {
        let g = collect_grads(net, grads);
        let (norm, scale) = clip_scale(&g, max_grad_norm)?;
        if let Some(sq) = self.flat.take().and_then(|f| f.to_slots(0, net)) {
            self.sq = sq;
        }
        if self.sq.len() != g.len() {
            self.sq = g.iter().map(Slot::zeros_like).collect();
        }
        let cfg = self.cfg;
        for ((p, g), sq) in net.params_mut().into_iter().zip(&g).zip(&mut self.sq) {
            match (p, g, sq) {
                (ParamMut::Matrix(p), Slot::Matrix(g), Slot::Matrix(s)) => {
                    rmsprop_update(p, g, s, &cfg, scale)
                }
                (ParamMut::Vector(p), Slot::Vector(g), Slot::Vector(s)) => {
                    rmsprop_update(p, g, s, &cfg, scale)
                }
                _ => {
                    return Err(ModelError::Config(
                        "optimizer state does not match the network".into(),
                    ));
                }
            }
        }
        Ok(norm)
    }

    fn step_flat(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        shapes: &[Vec<usize>],
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError> {
        let (norm, scale) = flat_clip(params, grads, shapes, max_grad_norm)?;
        let (bufs, _) = ensure_flat(&mut self.flat, &mut [&mut self.sq], shapes);
        let [sq] = bufs else {
            return Err(ModelError::Config("RMSProp keeps one flat buffer".into()));
        };
        let cfg = self.cfg;
        let kernel = RmsKernel {
            alpha: cfg.alpha,
            c: (1.0 - cfg.alpha) * scale * scale,
            eps: cfg.eps,
            inside: cfg.eps_inside_sqrt,
            step: -cfg.lr * scale,
        };
        for_chunks(params, grads, sq, &mut [], |p, g, sq, _| {
            pulp::Arch::new().dispatch(RmsChunk {
                k: &kernel,
                p,
                g,
                sq,
            });
        });
        Ok(norm)
    }

    fn set_lr(&mut self, lr: f32) {
        self.cfg.lr = lr;
    }
}

/// Elements per task when a flat update is split over threads; smaller updates run on one.
const FLAT_CHUNK: usize = 1 << 15;

/// Runs `f` over matching chunks of the parameter, gradient and state buffers (`b` may be
/// empty), in parallel when there is more than one chunk.
fn for_chunks(
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    f: impl Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync,
) {
    use rayon::prelude::*;
    if params.len() <= FLAT_CHUNK {
        return f(params, grads, a, b);
    }
    let mut b_chunks: Vec<&mut [f32]> = if b.is_empty() {
        params.chunks(FLAT_CHUNK).map(|_| &mut [][..]).collect()
    } else {
        b.chunks_mut(FLAT_CHUNK).collect()
    };
    params
        .par_chunks_mut(FLAT_CHUNK)
        .zip(grads.par_chunks(FLAT_CHUNK))
        .zip(a.par_chunks_mut(FLAT_CHUNK))
        .zip(b_chunks.par_iter_mut())
        .for_each(|(((p, g), a), b)| f(p, g, a, b));
}

/// `x`, or zero when `x` is subnormal. The moments of a parameter whose gradient is zero (a
/// dead ReLU unit) decay geometrically into the subnormal range, where every operation on them
/// is many times slower (no flush-to-zero on the CPU here: the `models` bench's step on one
/// fixed batch ran half as fast after a few thousand updates). The flat kernels flush them; this changes an update by less than
/// `lr · 1.2e-38 / ε`.
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

/// `Σ x²`, accumulated in 16 independent lanes so the compiler can vectorise the sum.
struct SumSquares<'a>(&'a [f32]);

impl pulp::WithSimd for SumSquares<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f32 {
        let mut acc = [0.0f32; 16];
        let chunks = self.0.chunks_exact(16);
        let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
        for c in chunks {
            for (a, x) in acc.iter_mut().zip(c) {
                *a += x * x;
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

/// Adam's constants for one step (see `adam_update` for the arithmetic).
struct AdamKernel {
    beta1: f32,
    beta2: f32,
    eps: f32,
    wd: f32,
    scale: f32,
    inv_sqrt_bc2: f32,
    step: f32,
}

struct AdamChunk<'a> {
    k: &'a AdamKernel,
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

impl pulp::WithSimd for AdamChunk<'_> {
    type Output = ();
    /// The same arithmetic, in the same order, as `adam_update` on tensors; a plain indexed
    /// loop that the compiler vectorises for the instruction set `pulp` dispatched to.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let AdamChunk { k, p, g, m, v } = self;
        let n = p.len().min(g.len()).min(m.len()).min(v.len());
        let (p, g, m, v) = (&mut p[..n], &g[..n], &mut m[..n], &mut v[..n]);
        // With weight decay the clip scale is folded into the gradient, else into c1, c2.
        let decay = k.wd > 0.0;
        let (c1, c2) = if decay {
            (1.0 - k.beta1, 1.0 - k.beta2)
        } else {
            (
                (1.0 - k.beta1) * k.scale,
                (1.0 - k.beta2) * k.scale * k.scale,
            )
        };
        for i in 0..n {
            let gi = if decay {
                g[i] * k.scale + p[i] * k.wd
            } else {
                g[i]
            };
            m[i] = flush(m[i] * k.beta1 + gi * c1);
            v[i] = flush(v[i] * k.beta2 + (gi * gi) * c2);
            let denom = v[i].sqrt() * k.inv_sqrt_bc2 + k.eps;
            let x = p[i] + (m[i] / denom) * k.step;
            // With weight decay, flush to zero (see `flush_subnormal`).
            p[i] = if decay { flush(x) } else { x };
        }
    }
}

/// RMSProp's constants for one step (see `rmsprop_update`).
struct RmsKernel {
    alpha: f32,
    c: f32,
    eps: f32,
    inside: bool,
    step: f32,
}

struct RmsChunk<'a> {
    k: &'a RmsKernel,
    p: &'a mut [f32],
    g: &'a [f32],
    sq: &'a mut [f32],
}

impl pulp::WithSimd for RmsChunk<'_> {
    type Output = ();
    /// The same arithmetic, in the same order, as `rmsprop_update` on tensors.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let RmsChunk { k, p, g, sq } = self;
        let n = p.len().min(g.len()).min(sq.len());
        let (p, g, sq) = (&mut p[..n], &g[..n], &mut sq[..n]);
        for i in 0..n {
            sq[i] = flush(sq[i] * k.alpha + (g[i] * g[i]) * k.c);
            let denom = if k.inside {
                (sq[i] + k.eps).sqrt()
            } else {
                sq[i].sqrt() + k.eps
            };
            p[i] += (g[i] / denom) * k.step;
        }
    }
}

#[cfg(test)]
mod weight_decay_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::device::device;
    use crate::param::Parameterized;
    use crate::{Activation, Mlp};
    use rand::SeedableRng;

    #[test]
    fn weight_decay_shrinks_unused_weights_without_leaving_subnormals() {
        let dev = device(0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut net = Mlp::new(&dev, &[2, 3, 1], Activation::Relu, false, &mut rng).unwrap();
        let before: f32 = net
            .export_params()
            .iter()
            .flat_map(|(_, v)| v.iter())
            .map(|x| x.abs())
            .sum();
        let mut opt = Adam::new(AdamConfig {
            lr: 0.1,
            weight_decay: 0.5,
            ..AdamConfig::default()
        });
        // Zero gradients: only the L2 term moves the weights, toward 0.
        for _ in 0..3000 {
            let x = dev.tensor_from_vec(vec![0.0f32; 2], (1, 2));
            let loss = net.forward(x.leaky_trace()).sum::<Rank0, _>() * 0.0;
            let mut g = loss.backward();
            opt.step(&mut net, &mut g, None).unwrap();
        }
        let after: Vec<f32> = net
            .export_params()
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect();
        assert!(
            after.iter().map(|x| x.abs()).sum::<f32>() < before * 1e-2,
            "{before} → {after:?}"
        );
        // Decayed weights pass through the subnormal range; they end at exactly zero instead.
        assert!(after.iter().all(|x| !x.is_subnormal()), "{after:?}");
        assert!(
            after.iter().filter(|x| **x == 0.0).count() >= after.len() / 2,
            "{after:?}"
        );
    }
}

#[cfg(test)]
mod resume_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::device::device;
    use crate::{Activation, Mlp};
    use rand::SeedableRng;

    fn train<O: Optimizer>(net: &mut Mlp, opt: &mut O, steps: usize, offset: usize) {
        let dev = device(0);
        for k in offset..offset + steps {
            let x: Vec<f32> = (0..6).map(|i| ((i + 3 * k) as f32 * 0.7).sin()).collect();
            let x = dev.tensor_from_vec(x, (3, 2));
            let loss = net.forward(x.leaky_trace()).square().mean::<Rank0, _>();
            let mut g = loss.backward();
            opt.step(net, &mut g, Some(0.5)).unwrap();
        }
    }

    fn bits(net: &Mlp) -> Vec<u32> {
        net.export_params()
            .into_iter()
            .flat_map(|(_, v)| v)
            .map(f32::to_bits)
            .collect()
    }

    /// Saving mid-run and continuing from a fresh optimizer equals never stopping.
    #[test]
    fn restored_optimizer_state_continues_bit_for_bit() {
        let dev = device(0);
        let net0 = {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
            Mlp::new(&dev, &[2, 5, 1], Activation::Tanh, false, &mut rng).unwrap()
        };
        let adam = || Adam::new(AdamConfig::default());
        let rms = || RmsProp::new(RmsPropConfig::default());

        // Adam.
        let (mut net, mut opt) = (net0.clone(), adam());
        train(&mut net, &mut opt, 10, 0);
        let mut ck = Checkpoint::new();
        ck.insert_params("net", &net);
        opt.insert_state(&mut ck, "opt");
        let ck =
            Checkpoint::from_bytes(&ck.to_bytes().unwrap(), std::path::Path::new("x")).unwrap();
        train(&mut net, &mut opt, 10, 10);
        let (mut net2, mut opt2) = (net0.clone(), adam());
        ck.restore_params("net", &mut net2).unwrap();
        opt2.restore_state(&ck, "opt", &net2).unwrap();
        assert_eq!(opt2.steps(), 10);
        train(&mut net2, &mut opt2, 10, 10);
        assert_eq!(bits(&net), bits(&net2));
        // Without the moments the continuation differs (the test can fail).
        let (mut net3, mut opt3) = (net0.clone(), adam());
        ck.restore_params("net", &mut net3).unwrap();
        train(&mut net3, &mut opt3, 10, 10);
        assert_ne!(bits(&net), bits(&net3));

        // RMSProp.
        let (mut net, mut opt) = (net0.clone(), rms());
        train(&mut net, &mut opt, 10, 0);
        let mut ck = Checkpoint::new();
        ck.insert_params("net", &net);
        opt.insert_state(&mut ck, "opt");
        train(&mut net, &mut opt, 10, 10);
        let (mut net2, mut opt2) = (net0.clone(), rms());
        ck.restore_params("net", &mut net2).unwrap();
        opt2.restore_state(&ck, "opt", &net2).unwrap();
        train(&mut net2, &mut opt2, 10, 10);
        assert_eq!(bits(&net), bits(&net2));
    }

    #[test]
    fn fresh_state_round_trips_and_other_shapes_are_refused() {
        let dev = device(0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut small = Mlp::new(&dev, &[2, 5, 1], Activation::Tanh, false, &mut rng).unwrap();
        let big = Mlp::new(&dev, &[2, 6, 1], Activation::Tanh, false, &mut rng).unwrap();
        let mut ck = Checkpoint::new();
        Adam::new(AdamConfig::default()).insert_state(&mut ck, "opt");
        let mut opt = Adam::new(AdamConfig::default());
        opt.restore_state(&ck, "opt", &small).unwrap();
        assert_eq!(opt.steps(), 0);
        train(&mut small, &mut opt, 2, 0);
        let mut ck = Checkpoint::new();
        opt.insert_state(&mut ck, "opt");
        let mut other = Adam::new(AdamConfig::default());
        assert!(other.restore_state(&ck, "opt", &big).is_err());
        assert_eq!(other.steps(), 0);
        assert!(
            other
                .restore_state(&Checkpoint::new(), "opt", &small)
                .is_err()
        );
    }
}
