//! Compiles the vendored libyaml (`vendor/libyaml/`, the parser the reference's YAML
//! loader is built on) and cairn's small C interface to its events.

fn main() {
    let dir = "vendor/libyaml";
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
