//! Integration tests: the loader under corruption, numpy interop, and BC / DAgger learning
//! from scripted experts on real environments.

mod learning;
mod loader;
