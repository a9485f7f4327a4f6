//! Generates the gRPC service from `proto/seed.proto` when the `grpc` feature is on, with the
//! `protoc` that `protoc-bin-vendored` ships (no system protoc needed).

fn main() {
    #[cfg(feature = "grpc")]
    if let Err(err) = compile_proto() {
        // A build script reports failure by panicking; the message names what went wrong.
        panic!("cannot compile proto/seed.proto: {err}");
    }
}

#[cfg(feature = "grpc")]
fn compile_proto() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = tonic_build::Config::new();
    config.protoc_executable(protoc);
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos_with_config(config, &["proto/seed.proto"], &["proto"])?;
    Ok(())
}
