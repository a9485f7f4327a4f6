//! Integration tests: the loader under corruption, numpy interop, and BC / DAgger learning
//! from scripted experts on real environments.

mod fuzz;
mod learning;
mod loader;
