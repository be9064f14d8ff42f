//! Builds what cairn embeds or links:
//! - `cairn-trace`, the tracer (`src/trace/supervisor/`), as a static executable for
//!   the target, to be embedded in cairn. It is compiled on its own, with `rustc`
//!   directly: `crt-static` for the whole build would break proc-macro crates, and the
//!   tracer needs no crate but `std`.
//! - the vendored libyaml (`src/project/yaml/libyaml/`, the parser the reference's YAML loader is
//!   built on) and cairn's small C interface to its events.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    build_libyaml();
    build_tracer();
}

fn build_libyaml() {
    let dir = "src/project/yaml/libyaml";
    let sources = [
        "api.c",
        "reader.c",
        "scanner.c",
        "parser.c",
        "cairn_events.c",
    ];
    let mut build = cc::Build::new();
    build
        .include(dir)
        .define("HAVE_CONFIG_H", None)
        .define("YAML_DECLARE_STATIC", None)
        // As Python builds the reference's extension: assertions off.
        .define("NDEBUG", None)
        .warnings(false);
    for source in sources {
        build.file(format!("{dir}/{source}"));
    }
    build.compile("cairn_libyaml");
    println!("cargo:rerun-if-changed={dir}");
}

fn build_tracer() {
    let src = PathBuf::from("src/trace/supervisor");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("cairn-trace");
    let target = std::env::var("TARGET").expect("TARGET");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        // ptrace and seccomp are Linux's: elsewhere there is no tracer, and
        // `trace::install` says so.
        println!("cargo:warning=cairn-trace is Linux-only: {target} gets no tracer");
        std::fs::write(&out, b"").expect("writing OUT_DIR/cairn-trace");
        return;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.arg("--edition=2024")
        .arg("--crate-name=cairn_trace")
        .arg("--crate-type=bin")
        .arg(format!("--target={target}"))
        .args(["-C", "target-feature=+crt-static"])
        .args(["-C", "opt-level=2"])
        .args(["-C", "panic=abort"])
        .args(["-C", "strip=symbols"])
        .args(["-C", "codegen-units=1"])
        .arg("-o")
        .arg(&out)
        .arg(src.join("main.rs"));
    let linker_var = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace(['-', '.'], "_")
    );
    println!("cargo:rerun-if-env-changed={linker_var}");
    if let Some(linker) = std::env::var_os(&linker_var) {
        cmd.arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cairn-trace: cannot run rustc to build the tracer: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!(
            "cairn-trace: the static build of the tracer (src/trace/supervisor) for {target} failed.\n\
             It needs the target's standard library and a C toolchain with a static C library \
             (on Debian: libc6-dev).\n{stderr}"
        );
    }
    for line in stderr.lines() {
        println!("cargo:warning={line}");
    }
}
