//! Integration tests: the loader under corruption, numpy interop, interop with the `imitation`
//! library (its legacy `.npz` and its HuggingFace `datasets` folders, both ways), and BC / DAgger
//! learning from scripted experts on real environments.

mod fuzz;
mod interop;
mod learning;
mod loader;
