//! Compiles proto/ (the hyperdrive-daemon API, schemas 1.11) with protox, so building needs no
//! system `protoc`. The files have no `package`, so tonic's method paths are `/Drive/get`, as the
//! Node client calls them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/daemon/main.proto",
        "proto/daemon/drive.proto",
        "proto/daemon/fuse.proto",
        "proto/daemon/peers.proto",
        "proto/daemon/peersockets.proto",
        "proto/daemon/hypercore.proto",
        "proto/ddrive/ddrive.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Methods the daemon does not serve answer UNIMPLEMENTED, as grpc-js did for Node.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
