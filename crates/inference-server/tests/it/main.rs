//! Integration tests of eirl-inference-server: batching and unrolls over the in-process
//! transport, the gRPC transport over loopback, and a bounded load test mixing both.

mod common;
#[cfg(feature = "grpc")]
mod fuzz;
#[cfg(feature = "grpc")]
mod grpc;
mod in_process;
mod load;
