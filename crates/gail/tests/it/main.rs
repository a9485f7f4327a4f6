//! Integration tests of the GAIL agent: real learning on CartPole at a small budget, checkpoints.

mod learning;
