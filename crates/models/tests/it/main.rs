//! Integration tests of eirl-models: gradients against finite differences, distributions against
//! closed forms, optimizers, averaging and checkpoints.

mod checkpoint;
mod distributions;
mod fused;
mod fuzz;
mod gpu;
mod torch;
mod training;
